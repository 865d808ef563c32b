"""DP-SGD for one device's local training (Opacus, or fedrobust.privacy.stacked_dp_sgd's per-sample
gradients for the BiGRU-attention student): Poisson-sampled batches, per-sample
gradient clipping to ``max_grad_norm``, Gaussian noise of ``noise_multiplier * max_grad_norm``
(or the multiplier that reaches ``target_epsilon`` after the configured epochs), and the
accountant's epsilon at ``delta``, recorded on the trained model.

Same contract as the federated side's local training: trains ``model`` in place; a subset of
parameters may be trained; ``settings`` is anything with ``epochs``, ``lr`` and ``batch_size``.
A data-independent penalty (e.g. Ditto's proximal pull toward the global model) is an object with
``add_gradient(model)``; it is added to the gradient after clipping and noise and costs no privacy.

``prior`` is the accountant history of the earlier training on the same device data that the
model already carries (e.g. Ditto's personal model over the rounds): the reported epsilon composes
it with this training's steps in one accountant. A ``target_epsilon`` is met by this training's
steps alone; a caller with earlier steps passes the noise planned for all of them
(fedrobust.federated.device_dp).
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedrobust.models.base import TextClassifier
from fedrobust.privacy.accounting import (
    DPReport,
    History,
    compose,
    history_epsilon,
    noise_for_target,
    record_dp_report,
    report_for_history,
)
from fedrobust.privacy import stacked_dp_sgd
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.opacus_compat import (
    PackedBatchOrder,
    check_trainable_by_opacus,
    from_opacus,
    incompatible,
    to_opacus,
)


def poisson_schedule(n: int, batch_size: int, epochs: int) -> tuple[float, int]:
    """(sample rate, steps) of ``epochs`` epochs of DP-SGD over ``n`` examples, as the training
    below samples them: Opacus's rate 1 / len(loader), len(loader) steps an epoch."""
    batches = math.ceil(n / min(batch_size, n)) if n else 0
    return (1 / batches if batches else 0.0), epochs * batches


def _noise_multiplier(dp: DPConfig, sample_rate: float, epochs: int) -> float:
    """The configured sigma, or the one Opacus's ``make_private_with_epsilon`` would pick (cached)."""
    if dp.target_epsilon is None:
        return float(dp.noise_multiplier)
    steps = round(epochs / sample_rate)
    return noise_for_target(dp.target_epsilon, dp.delta, sample_rate, steps, dp.accountant)


def _optimizer(settings) -> type[torch.optim.Optimizer]:
    """Adam, or plain SGD where the settings ask for it (``optimizer: sgd``, e.g. Per-FedAvg's one step)."""
    return torch.optim.SGD if getattr(settings, "optimizer", "adam") == "sgd" else torch.optim.Adam


@contextmanager
def _quiet_opacus() -> Iterator[None]:
    """Opacus warns on every device about things that are expected here (its non-cryptographic RNG:
    simulations want seeded noise; backward hooks on integer token inputs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


def _noise_only_step(optimizer, params: list[nn.Parameter]) -> None:
    """An empty Poisson batch still takes a step: noise only, and the accountant counts it."""
    for p in params:
        p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
    optimizer.step()


def train_privately(
    model: TextClassifier,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    settings,
    dp: DPConfig,
    seed: int,
    parameters: list[nn.Parameter] | None = None,
    penalty=None,
    prior: History = (),
    engine: str = "auto",
) -> dict[str, float]:
    """Train in place with DP-SGD; returns the mean loss, the steps and the spent epsilon (of
    ``prior`` and these steps together).

    ``engine``: "auto" computes per-sample gradients with the stacked engine where it applies
    (fedrobust.privacy.stacked_dp_sgd: the BiGRU-attention student trained whole) and with Opacus's
    hooks elsewhere; "opacus" always uses Opacus's."""
    if engine not in ("auto", "opacus"):
        raise ValueError(f"engine must be 'auto' or 'opacus', not {engine!r}")
    if settings.epochs == 0 or not texts:  # the data is not touched
        report = report_for_history(prior, dp.delta, dp.accountant)
        record_dp_report(model, report)
        return {"train_loss": float("nan"), "steps": 0, "epsilon": report.epsilon}
    torch.manual_seed(seed)
    with _quiet_opacus():
        if engine == "auto" and stacked_dp_sgd.eligible(model, parameters):
            losses, this_training = _train_stacked(model, tokenizer, texts, labels, settings, dp, seed, penalty)
        else:
            losses, this_training = _train_with_opacus(model, tokenizer, texts, labels, settings, dp, seed,
                                                       parameters, penalty)
        # this training's steps and the earlier ones join in one history, evaluated with the same
        # accountant class through a cache (many devices share it)
        sigma, rate, _ = this_training[0]
        history = compose(prior, this_training)
        report = DPReport(epsilon=history_epsilon(history, dp.delta, dp.accountant), delta=dp.delta,
                          noise_multiplier=float(sigma), sample_rate=float(rate),
                          steps=sum(entry[2] for entry in this_training), accountant=dp.accountant,
                          history=history)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    record_dp_report(model, report)
    return {"train_loss": sum(losses) / len(losses) if losses else float("nan"), "steps": report.steps,
            "epsilon": report.epsilon}


def _train_stacked(model, tokenizer, texts, labels, settings, dp, seed, penalty) -> tuple[list[float], History]:
    from opacus.data_loader import UniformWithReplacementSampler

    encoded = tokenizer(list(texts))
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    n = len(targets)
    rate, _ = poisson_schedule(n, settings.batch_size, settings.epochs)
    sigma = _noise_multiplier(dp, rate, settings.epochs)
    model.train()
    trainer = stacked_dp_sgd.StackedDPSGD(
        model, _optimizer(settings)(list(model.parameters()), lr=settings.lr), sigma, dp.max_grad_norm,
        stacked_dp_sgd.expected_batch_size(n, rate), noise_generator=torch.Generator().manual_seed(seed + 1),
        dropout_generator=torch.Generator().manual_seed(seed + 2), penalty=penalty)
    sampler = UniformWithReplacementSampler(num_samples=n, sample_rate=rate,
                                            generator=torch.Generator().manual_seed(seed))
    losses, steps = [], 0
    for _ in range(settings.epochs):
        for batch in sampler:
            index = torch.as_tensor(list(batch), dtype=torch.long)
            loss = trainer.step(encoded["input_ids"][index], encoded["attention_mask"][index], targets[index])
            steps += 1
            if loss is not None:
                losses.append(loss)
    for p in model.parameters():
        p.grad = None
    return losses, [(float(sigma), float(rate), steps)]


def _train_with_opacus(model, tokenizer, texts, labels, settings, dp, seed, parameters,
                       penalty) -> tuple[list[float], History]:
    from opacus import PrivacyEngine

    trainable_ids = {id(p) for p in (parameters if parameters is not None else model.parameters())}
    trainable_names = {name for name, p in model.named_parameters() if id(p) in trainable_ids}
    for name, p in model.named_parameters():
        p.requires_grad_(name in trainable_names)
    to_opacus(model, trainable_only=True)  # names stay the same, parameter objects are new
    params = [p for name, p in model.named_parameters() if name in trainable_names]
    model.train()
    check_trainable_by_opacus(model)

    encoded = tokenizer(list(texts))
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    n = len(targets)
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=min(settings.batch_size, n),
                        generator=torch.Generator().manual_seed(seed))
    engine = PrivacyEngine(accountant=dp.accountant)
    try:
        private_model, optimizer, private_loader = engine.make_private(
            module=model, optimizer=_optimizer(settings)(params, lr=settings.lr), data_loader=loader,
            noise_multiplier=_noise_multiplier(dp, 1 / len(loader), settings.epochs), max_grad_norm=dp.max_grad_norm,
            poisson_sampling=True, noise_generator=torch.Generator().manual_seed(seed + 1))
    except NotImplementedError as exc:  # e.g. parameters held directly by a module that also has buffers
        from_opacus(model)
        raise incompatible(model, str(exc)) from None
    if penalty is not None:
        accountant_hook = optimizer.step_hook

        def add_penalty_gradient(opt) -> None:  # runs after clipping and noise, before the update
            accountant_hook(opt)
            penalty.add_gradient(model)

        optimizer.attach_step_hook(add_penalty_gradient)

    private_model.train()
    packed_order = PackedBatchOrder(model)
    losses = []
    for _ in range(settings.epochs):
        for batch in private_loader.batch_sampler:
            index = torch.as_tensor(list(batch), dtype=torch.long)
            optimizer.zero_grad()
            if len(index) == 0:
                _noise_only_step(optimizer, params)
                continue
            logits = private_model(encoded["input_ids"][index], encoded["attention_mask"][index])
            loss = F.cross_entropy(logits, targets[index])
            loss.backward()
            packed_order.restore()
            optimizer.step()
            losses.append(float(loss.detach()))
    packed_order.remove()
    this_training = compose(engine.accountant.history)
    private_model.to_standard_module()  # removes the hooks and the per-sample gradients
    from_opacus(model)
    return losses, this_training
