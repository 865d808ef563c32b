"""FedALA (Zhang et al. 2023, "FedALA: Adaptive Local Aggregation for Personalized Federated
Learning"): FedAvg, except that a device does not start its local training from the received global
model but from an element-wise merge of it with its own previous local model,

    w_init = w_local + (w_global - w_local) * W,    W in [0, 1] element-wise,

where the weights W are learned on the device (adaptive local aggregation, ALA). Only the top
``layer_idx`` parameter tensors of the model (in its parameter order; 2: the head's weight and bias)
are merged; the lower ones take the global model's weights as they are.

W is learned by gradient descent on the device's loss at w_init (step ``eta``, clipped to [0, 1]
after every step), over a seeded sample of ``rand_percent`` % of its training texts in batches of
``local.batch_size``, with dropout off. The first time a device merges, W starts at 1 (the global
model) and is trained until the standard deviation of the last ``num_pre_loss`` epoch losses falls
below ``threshold`` (at most ``max_start_epochs`` epochs); afterwards one epoch a round, from the
W it kept. A device's first participation has no local model yet: it starts from the global model.

Each round the device merges, trains w_init as FedAvg does (``local.epochs``), sends the result
back and keeps it, with W, in its state (fedrobust.federated.client_state). The global phase
measures the global model; the personalized model is the merge of the final global model with
the device's local model (W learned once more), fine-tuned as fedavg_ft does
(``personalize.params``, ``personalize.epochs``).

The local model and W stay on the device and are trained on its data without DP, and learning W
is not a DP-SGD step: FedALA refuses ``personalize.dp`` rather than report an epsilon that leaves
them out.

    algorithm: {fedala: {layer_idx: 2, rand_percent: 80, eta: 1.0}}
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call

from fedrobust.config_schema import dotted
from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import (
    Algorithm,
    ClientCall,
    fine_tune,
    local_settings,
    personalize_settings,
)
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.local_training import train_locally
from fedrobust.models.base import TextClassifier

Weights = dict[str, torch.Tensor]
LOCAL_PREFIX = "local."
WEIGHT_PREFIX = "ala_weight."


@dataclass(frozen=True)
class FedALAParams:
    layer_idx: int = 2  # the top parameter tensors merged with learned weights; the lower ones take the global model
    rand_percent: int = 80  # % of the device's training texts W is learned on
    eta: float = 1.0  # step size of W's gradient descent
    threshold: float = 0.1  # first merge: W is trained until the std of the last num_pre_loss epoch losses is below it
    num_pre_loss: int = 10
    max_start_epochs: int = 50  # ... or at most this many epochs

    def validate(self, where: str) -> None:
        if self.layer_idx < 1:
            raise ConfigError(f"config key {where}.layer_idx must be >= 1, got {self.layer_idx}")
        if not 0 < self.rand_percent <= 100:
            raise ConfigError(f"config key {where}.rand_percent must be in (0, 100], got {self.rand_percent}")
        if not self.eta > 0:
            raise ConfigError(f"config key {where}.eta must be > 0, got {self.eta}")
        for key in ("num_pre_loss", "max_start_epochs"):
            if getattr(self, key) < 1:
                raise ConfigError(f"config key {where}.{key} must be >= 1, got {getattr(self, key)}")
        if self.threshold < 0:
            raise ConfigError(f"config key {where}.threshold must be >= 0, got {self.threshold}")


def merge(local: Weights, global_weights: Weights, weights: Weights) -> Weights:
    """w_local + (w_global - w_local) * W for the entries of ``weights``; the global model elsewhere."""
    merged = dict(global_weights)
    for name, w in weights.items():
        merged[name] = local[name] + (global_weights[name] - local[name]) * w
    return merged


def top_parameters(model: TextClassifier, layer_idx: int) -> list[str]:
    return [name for name, p in model.named_parameters() if p.is_floating_point()][-layer_idx:]


def device_state(saved: Weights | None) -> tuple[Weights | None, Weights | None]:
    """(the device's local model, its merge weights W) from its state; None where it has none yet."""
    if saved is None:
        return None, None
    local = {k[len(LOCAL_PREFIX):]: v for k, v in saved.items() if k.startswith(LOCAL_PREFIX)}
    weights = {k[len(WEIGHT_PREFIX):]: v for k, v in saved.items() if k.startswith(WEIGHT_PREFIX)}
    return local, weights or None


class _MergeLoss:
    """The device's loss at w_init as a function of W (the local and global models fixed)."""

    def __init__(self, model: TextClassifier, local: Weights, global_weights: Weights, call: ClientCall,
                 sample: list[int]) -> None:
        self.model = model.eval()  # the architecture: functional_call swaps in the merged weights
        self.local, self.global_weights = local, global_weights
        data = call.data
        encoded = call.tokenizer([data.train_texts[i] for i in sample])
        self.ids, self.mask = encoded["input_ids"], encoded["attention_mask"]
        self.targets = torch.as_tensor([data.train_labels[i] for i in sample], dtype=torch.long)

    def step(self, weights: Weights, index: torch.Tensor, eta: float) -> float:
        """One step of W on the examples ``index``, in place; returns the loss before it."""
        live = {k: w.detach().requires_grad_(True) for k, w in weights.items()}
        logits = functional_call(self.model, merge(self.local, self.global_weights, live),
                                 (self.ids[index], self.mask[index]))
        loss = F.cross_entropy(logits, self.targets[index])
        grads = torch.autograd.grad(loss, list(live.values()))
        with torch.no_grad():
            for (name, w), g in zip(live.items(), grads):
                weights[name] = (w - eta * g).clamp_(0.0, 1.0)
        return float(loss.detach())


@register_algorithm
class FedALA(Algorithm):
    name = "fedala"
    Params = FedALAParams
    personalizes = True

    def check_settings(self, settings, where: str = "") -> None:
        """FedALA against the federation's settings (FederatedSettings): no ``personalize.dp``."""
        if settings.personalize.dp.enabled:
            raise ConfigError(
                f"config keys {dotted(where, 'algorithm')}: fedala and {dotted(where, 'personalize.dp')}: fedala keeps "
                f"a local model and merge weights trained on the device's data without DP-SGD, so the device's "
                f"epsilon would leave them out; set {dotted(where, 'personalize.dp.enabled')}: false or choose "
                f"another algorithm")

    def learn_weights(self, call: ClientCall, local: Weights, global_weights: Weights,
                      weights: Weights | None) -> Weights:
        """W after this round's training: from 1 until the losses settle on a device's first merge,
        one epoch from the kept W afterwards."""
        p, data = self.params, call.data
        start = weights is None
        weights = ({name: torch.ones_like(global_weights[name]) for name in top_parameters(call.model, p.layer_idx)}
                   if start else {k: v.clone() for k, v in weights.items()})
        n = len(data.train_labels)
        if n == 0:
            return weights
        generator = torch.Generator().manual_seed(call.seed("fedala-weights"))
        sample = torch.randperm(n, generator=generator)[:max(1, n * p.rand_percent // 100)].tolist()
        loss = _MergeLoss(copy.deepcopy(call.model), local, global_weights, call, sample)
        size, losses = call.config.local.batch_size, []
        for _ in range(p.max_start_epochs if start else 1):
            order = torch.randperm(len(sample), generator=generator)
            epoch = [loss.step(weights, order[i:i + size], p.eta) for i in range(0, len(sample), size)]
            losses.append(sum(epoch) / len(epoch))
            recent = losses[-p.num_pre_loss:]
            if len(losses) > p.num_pre_loss and statistics.pstdev(recent) < p.threshold:
                break
        return weights

    def initial_weights(self, call: ClientCall) -> tuple[Weights, Weights | None]:
        """w_init for this device from the weights in ``call.model`` (the received global model), and
        the merge weights W it used (None: no local model yet, w_init is the global model)."""
        global_weights = call.received_weights()
        local, weights = device_state(call.state.load(before_round=call.server_round))
        if local is None:
            return global_weights, None
        weights = self.learn_weights(call, local, global_weights, weights)
        return merge(local, global_weights, weights), weights

    def train(self, call: ClientCall) -> dict[str, float]:
        self.check_settings(call.config)
        init, weights = self.initial_weights(call)
        call.model.load_state_dict(init)
        metrics = train_locally(call.model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                                local_settings(call.config), seed=call.seed("train"))
        state = {LOCAL_PREFIX + k: v for k, v in call.model.state_dict().items() if v.is_floating_point()}
        state.update({WEIGHT_PREFIX + k: v for k, v in (weights or {}).items()})
        call.state.save(call.server_round, state)
        return metrics

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        self.check_settings(call.config)
        init, _ = self.initial_weights(call)
        model = copy.deepcopy(call.model)
        model.load_state_dict(init)
        return fine_tune(call, model, personalize_settings(call.config))
