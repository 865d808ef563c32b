"""Per-FedAvg (Fallah, Mokhtari and Ozdaglar 2020, "Personalized Federated Learning with
Theoretical Guarantees: A Model-Agnostic Meta-Learning Approach"), its first-order variant
(Per-FedAvg FO): the federation learns a starting point that becomes good for a device after one
gradient step on that device's data.

Each round the device runs MAML's first-order meta-steps on its data (``local.epochs`` epochs of
``ceil(n / local.batch_size)`` meta-steps): from the weights w it takes an inner step of size
``alpha`` on a batch D, w' = w - alpha grad f(w; D), and then an outer step of size ``beta`` from
w with the gradient at w' on a second, independently drawn batch D': w <- w - beta grad f(w'; D').
Both are plain SGD steps, as in the paper; the device sends w back and FedAvg averages.

The global phase measures the averaged meta-model. The personalized model is that model after
exactly one adaptation step of size ``alpha`` on the device's training texts: one full-batch plain
SGD step of all the parameters (``personalize.adversarial`` applies; ``personalize.epochs``, ``lr``,
``batch_size`` and ``params`` do not).

Nothing trained on the device's data stays on it before that step, so under ``personalize.dp``
only that step is DP-SGD: one step over all the training texts (sample rate 1), accounted in the
device's history (fedrobust.federated.device_dp).

    algorithm: {per_fedavg: {alpha: 0.05, beta: 0.05}}
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import final_settings
from fedrobust.federated.local_training import TrainSettings, batch_loss, train_locally
from fedrobust.models.base import TextClassifier


@dataclass(frozen=True)
class PerFedAvgParams:
    alpha: float = 0.05  # inner step size, and the size of the one adaptation step that personalizes
    beta: float = 0.05  # outer (meta) step size

    def validate(self, where: str) -> None:
        for key in ("alpha", "beta"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"config key {where}.{key} must be > 0, got {getattr(self, key)}")


def _gradients(loss: torch.Tensor, params: list[nn.Parameter]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def meta_train(model: TextClassifier, tokenizer, texts: list[str], labels: list[int], settings: TrainSettings,
               alpha: float, beta: float, seed: int) -> dict[str, float]:
    """First-order MAML meta-steps in place on ``model``; the mean outer-batch loss and the steps."""
    n = len(labels)
    if n == 0 or settings.epochs == 0:
        return {"train_loss": float("nan"), "steps": 0}
    torch.manual_seed(seed)  # dropout
    generator = torch.Generator().manual_seed(seed)
    encoded = tokenizer(list(texts))
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    size = min(settings.batch_size, n)
    params = [p for p in model.parameters() if p.is_floating_point()]
    model.train()
    losses = []
    for _ in range(settings.epochs * math.ceil(n / size)):
        inner = torch.randperm(n, generator=generator)[:size]
        outer = torch.randperm(n, generator=generator)[:size]
        start = [p.detach().clone() for p in params]
        step = _gradients(batch_loss(model, ids[inner], mask[inner], targets[inner], settings), params)
        with torch.no_grad():
            for p, g in zip(params, step):
                p.sub_(alpha * g)
        loss = batch_loss(model, ids[outer], mask[outer], targets[outer], settings)
        step = _gradients(loss, params)
        with torch.no_grad():  # first order: the outer gradient, taken at w', moves w
            for p, w, g in zip(params, start, step):
                p.copy_(w - beta * g)
        losses.append(float(loss.detach()))
    model.eval()
    return {"train_loss": sum(losses) / len(losses), "steps": len(losses)}


def one_step_settings(settings: TrainSettings, n_train: int, alpha: float) -> TrainSettings:
    """One full-batch plain SGD step of size ``alpha`` (DP-SGD at sample rate 1 under DP)."""
    return replace(settings, epochs=1, lr=alpha, batch_size=max(1, n_train), optimizer="sgd")


@register_algorithm
class PerFedAvg(Algorithm):
    name = "per_fedavg"
    Params = PerFedAvgParams
    personalizes = True

    def train(self, call: ClientCall) -> dict[str, float]:
        return meta_train(call.model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                          local_settings(call.config), self.params.alpha, self.params.beta, seed=call.seed("train"))

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        model = copy.deepcopy(self.global_model(call))
        settings = one_step_settings(final_settings(call, self), call.data.n_train, self.params.alpha)
        train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels, settings,
                      seed=call.seed("personalize"))
        return model
