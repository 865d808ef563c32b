"""APFL (Deng et al. 2020, "Adaptive Personalized Federated Learning"): FedAvg for the global
model w, plus on each device a local model v and a mixing weight alpha in [0, 1]; the device's
personalized model is the mix  alpha * v + (1 - alpha) * w.  v is trained through the mix (the
gradient of the loss at the mix, times alpha), and alpha by gradient descent on the same loss,
whose derivative is <v - w, grad f(mix)>: alpha grows where the local model does better than the
global one and shrinks where it does worse.

    algorithm: {apfl: {alpha_init: 0.5, alpha_lr: 0.1, personal_epochs: 1, alpha_epochs: 1}}

Each round the device trains w as FedAvg does (``local.epochs``, sent back), then v through the
mix with the received global model (``personal_epochs``), then alpha (``alpha_epochs``); the
paper interleaves the three step by step, here they run one after the other so that each is a
plain (or DP-SGD) training. Training v at learning rate lr through the mix is training the mix
itself at rate alpha * lr (exactly for SGD; for Adam, which ignores the gradient's scale, too,
up to its epsilon), so the mix is trained as an ordinary model and v recovered from it. v and
alpha live in the device's state (fedrobust.federated.client_state); a device's first round
starts from v = w and ``alpha_init``. At the end v is trained once more through the mix with the
final global model (``personalize.epochs``, all parameters: ``personalize.params`` does not
apply), and the mix is the device's personalized model. The global phase measures w.

v and alpha are trained on the device's data and never sent: under ``personalize.dp`` (scope
all_steps) v's training is DP-SGD, and alpha's steps are DP-SGD on the one scalar (Poisson
batches at the same sample rate, each example's derivative clipped to ``max_grad_norm``, Gaussian
noise), all composed in the device's accountant with the final fine-tune
(fedrobust.federated.device_dp).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch.func import functional_call

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings, with_epochs
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import covers_every_step, device_dp, final_settings, train_on_device
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.models.base import TextClassifier
from fedrobust.privacy.accounting import History, compose, not_private
from fedrobust.privacy.dp_personalization import poisson_schedule

Weights = dict[str, torch.Tensor]
ALPHA_KEY = "alpha"
PERSONAL_PREFIX = "personal."


@dataclass(frozen=True)
class APFLParams:
    alpha_init: float = 0.5  # a device's mixing weight before its first round
    alpha_lr: float = 0.1  # step size of alpha's gradient descent
    personal_epochs: int = 1  # epochs of v each round, after w's local epochs
    alpha_epochs: int = 1  # epochs of alpha each round, after v's

    def validate(self, where: str) -> None:
        if not 0.0 < self.alpha_init <= 1.0:
            raise ConfigError(f"config key {where}.alpha_init must be in (0, 1] (at 0 the local model never "
                              f"trains), got {self.alpha_init}")
        if self.alpha_lr < 0:
            raise ConfigError(f"config key {where}.alpha_lr must be >= 0, got {self.alpha_lr}")


def mix(alpha: float | torch.Tensor, personal: Weights, global_weights: Weights) -> Weights:
    """alpha * v + (1 - alpha) * w, for the (floating-point) entries of ``personal``."""
    return {k: alpha * v + (1 - alpha) * global_weights[k] for k, v in personal.items()}


def personal_state(personal: Weights, alpha: float) -> Weights:
    """What a device's state holds: v's weights and alpha."""
    saved = {PERSONAL_PREFIX + k: v for k, v in personal.items()}
    return {**saved, ALPHA_KEY: torch.tensor(alpha, dtype=torch.float64)}


def read_personal_state(saved: Weights) -> tuple[Weights, float]:
    personal = {k[len(PERSONAL_PREFIX):]: v for k, v in saved.items() if k.startswith(PERSONAL_PREFIX)}
    return personal, float(saved[ALPHA_KEY])


def _clip_unit(alpha: float) -> float:
    return min(1.0, max(0.0, alpha))


class _AlphaLoss:
    """The device's loss at the mix as a function of alpha, with v and w fixed."""

    def __init__(self, template: TextClassifier, personal: Weights, global_weights: Weights, tokenizer,
                 texts: Sequence[str], labels: Sequence[int]) -> None:
        self.template = template.eval()  # the architecture; functional_call swaps its weights for the mix
        self.personal = {k: v.detach() for k, v in personal.items()}
        self.global_weights = {k: global_weights[k].detach() for k in personal}
        encoded = tokenizer(list(texts))
        self.ids, self.mask = encoded["input_ids"], encoded["attention_mask"]
        self.targets = torch.as_tensor(list(labels), dtype=torch.long)

    def gradient(self, alpha: float, index: torch.Tensor) -> float:
        """d/d alpha of the mean loss over the examples ``index``."""
        a = torch.tensor(float(alpha), requires_grad=True)
        logits = functional_call(self.template, mix(a, self.personal, self.global_weights),
                                 (self.ids[index], self.mask[index]))
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, self.targets[index]), a)
        return float(grad)


@register_algorithm
class APFL(Algorithm):
    name = "apfl"
    Params = APFLParams
    personalizes = True

    def device_only_epochs(self, local_epochs: int) -> int:
        return self.params.personal_epochs + self.params.alpha_epochs

    def device_state(self, call: ClientCall, global_weights: Weights) -> tuple[Weights, float, History]:
        """v, alpha and the accountant history of their training on this device."""
        saved = call.state.load(before_round=call.server_round)
        if saved is None:  # first participation
            personal = {k: v.clone() for k, v in global_weights.items() if v.is_floating_point()}
            alpha = self.params.alpha_init
        else:
            personal, alpha = read_personal_state(saved)
        return personal, alpha, call.state.load_dp_history(before_round=call.server_round)

    def _mixed_model(self, call: ClientCall, personal: Weights, alpha: float,
                     global_weights: Weights) -> TextClassifier:
        model = copy.deepcopy(call.model)
        model.load_state_dict(mix(alpha, personal, global_weights), strict=False)
        return model

    def _train_personal(self, call: ClientCall, personal: Weights, alpha: float, global_weights: Weights,
                        history: History) -> tuple[Weights, History]:
        """v after ``personal_epochs`` through the mix; the history with those steps."""
        mixed = self._mixed_model(call, personal, alpha, global_weights)
        before = mix(alpha, personal, global_weights)
        settings = with_epochs(local_settings(call.config), self.params.personal_epochs)
        _, history = train_on_device(call, self, mixed, replace(settings, lr=alpha * settings.lr),
                                     seed=call.seed("apfl-personal"), prior=history)
        if alpha == 0:  # v's gradient is alpha times the mix's: nothing moved
            return personal, history
        after = mixed.state_dict()
        return {k: v + (after[k] - before[k]) / alpha for k, v in personal.items()}, history

    def _train_alpha(self, call: ClientCall, personal: Weights, alpha: float, global_weights: Weights,
                     history: History) -> tuple[float, History]:
        """alpha after ``alpha_epochs`` of gradient descent (DP-SGD under personalize.dp); the history."""
        data, batch_size, epochs = call.data, call.config.local.batch_size, self.params.alpha_epochs
        n = len(data.train_labels)
        if n == 0 or epochs == 0:
            return alpha, history
        loss = _AlphaLoss(copy.deepcopy(call.model), personal, global_weights, call.tokenizer,
                          data.train_texts, data.train_labels)
        generator = torch.Generator().manual_seed(call.seed("apfl-alpha"))
        lr = self.params.alpha_lr
        if not covers_every_step(call.config.personalize.dp):
            steps = 0
            for _ in range(epochs):
                order = torch.randperm(n, generator=generator)
                for start in range(0, n, batch_size):
                    alpha = _clip_unit(alpha - lr * loss.gradient(alpha, order[start:start + batch_size]))
                    steps += 1
            return alpha, compose(history, not_private(steps))
        # DP-SGD on one scalar, as Opacus does it for a model: Poisson batches, each example's
        # gradient clipped to C, noise N(0, (sigma C)^2) on the sum, divided by the expected batch
        dp = device_dp(call, self)
        sigma, bound = float(dp.noise_multiplier), dp.max_grad_norm
        rate, steps = poisson_schedule(n, batch_size, epochs)
        noise = torch.Generator().manual_seed(call.seed("apfl-alpha-noise"))
        for _ in range(steps):
            picked = (torch.rand(n, generator=generator) < rate).nonzero().flatten()
            clipped = sum(max(-bound, min(bound, loss.gradient(alpha, picked[i:i + 1]))) for i in range(len(picked)))
            noisy = (clipped + sigma * bound * float(torch.randn((), generator=noise))) / (rate * n)
            alpha = _clip_unit(alpha - lr * noisy)
        return alpha, compose(history, ((sigma, rate, steps),))

    def train(self, call: ClientCall) -> dict[str, float]:
        global_weights = call.received_weights()
        personal, alpha, history = self.device_state(call, global_weights)
        metrics = super().train(call)  # w: FedAvg's local training, sent back
        personal, history = self._train_personal(call, personal, alpha, global_weights, history)
        alpha, history = self._train_alpha(call, personal, alpha, global_weights, history)
        call.state.save(call.server_round, personal_state(personal, alpha), dp_history=history)
        return metrics

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        global_weights = call.received_weights()
        personal, alpha, history = self.device_state(call, global_weights)
        mixed = self._mixed_model(call, personal, alpha, global_weights)
        settings: TrainSettings = final_settings(call, self)
        train_locally(mixed, call.tokenizer, call.data.train_texts, call.data.train_labels,
                      replace(settings, lr=alpha * settings.lr), seed=call.seed("personalize"), dp_prior=history)
        return mixed
