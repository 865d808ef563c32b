"""pFedMe (T. Dinh, Tran and Nguyen 2020, "Personalized Federated Learning with Moreau
Envelopes"): each device's personal model theta solves the proximal problem

    min_theta  h(theta) = f_i(theta) + lam/2 ||theta - w||^2

around its local copy w of the global model, and w moves toward theta.

Each round the device starts from the received global model (w = theta = w_global) and takes
``local.epochs`` epochs of local steps over batches of ``local.batch_size``. A local step solves the
proximal problem on the batch approximately, by gradient descent on theta (step ``personal_lr``)
until the gradient of h is at most ``tolerance`` in norm or ``inner_steps`` steps are taken (theta
warm-starts from the previous local step's), then updates w <- w - local.lr * lam * (w - theta).
The device sends back w_global + beta (w - w_global): FedAvg's weighted mean of those is the
paper's server update (1 - beta) w_global + beta mean(w_i), so the server stays plain FedAvg
(beta 1: the plain average of the local models).

The global phase measures the global model. The personalized model is theta for the final global
model on the device's whole training set: full-batch gradient descent on h (dropout off, so h is
deterministic) until its gradient norm is at most ``tolerance``, or ``final_steps`` steps.

Theta is trained on the device's data and ends in its personalized model; the round's thetas are
discarded each round (only w is sent: the rounds' DP covers it). Under ``personalize.dp`` the final
theta is DP-SGD instead: ``personalize.epochs`` of it on f_i with the proximal pull toward the
global model added after the noise (it reads no data), accounted as the final fine-tune; a
stopping rule that reads the data's gradient would not be private, so no tolerance applies there.

    algorithm: {pfedme: {lam: 15.0, personal_lr: 0.05, inner_steps: 5, tolerance: 0.001, beta: 1.0}}
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings
from fedrobust.federated.algorithms.proximal import proximal_pull
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import final_settings
from fedrobust.federated.local_training import TrainSettings, batch_loss, train_locally
from fedrobust.models.base import TextClassifier

Weights = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PFedMeParams:
    lam: float = 15.0  # strength of the pull between the personal model and the local model
    personal_lr: float = 0.05  # step size of the personal model's gradient descent
    inner_steps: int = 5  # K: at most this many personal-model steps per local step
    tolerance: float = 1e-3  # a personal model whose proximal objective's gradient norm is this small is solved
    beta: float = 1.0  # the server's mix of the averaged local models into the global one
    final_steps: int = 200  # at most this many full-batch steps for the final personal model

    def validate(self, where: str) -> None:
        for key in ("lam", "personal_lr", "beta"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"config key {where}.{key} must be > 0, got {getattr(self, key)}")
        for key in ("inner_steps", "final_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"config key {where}.{key} must be >= 1, got {getattr(self, key)}")
        if self.tolerance < 0:
            raise ConfigError(f"config key {where}.tolerance must be >= 0, got {self.tolerance}")


Backward = Callable[[nn.Module], float]  # backpropagates a loss at the model's weights, returns its value


def _parameters(model: nn.Module) -> tuple[list[str], list[nn.Parameter]]:
    named = [(name, p) for name, p in model.named_parameters() if p.is_floating_point()]
    return [name for name, _ in named], [p for _, p in named]


def proximal_gradient(model: nn.Module, loss: Backward, reference: Weights,
                      lam: float) -> tuple[list[torch.Tensor], float]:
    """The gradient of h(theta) = loss(theta) + lam/2 ||theta - reference||^2 at the model's
    weights theta, per parameter, and the loss's value there."""
    names, params = _parameters(model)
    for p in params:
        p.grad = None
    value = loss(model)
    grads = [(torch.zeros_like(p) if p.grad is None else p.grad.detach()) + lam * (p.detach() - reference[name])
             for name, p in zip(names, params)]
    for p in params:
        p.grad = None
    return grads, value


def solve_proximal(model: nn.Module, loss: Backward, reference: Weights, lam: float, lr: float, max_steps: int,
                   tolerance: float) -> tuple[int, float, float]:
    """Gradient descent in place on theta (the model's weights) for h(theta) = loss + lam/2
    ||theta - reference||^2, until ||grad h|| <= tolerance or ``max_steps`` steps. Returns the steps
    taken, the last gradient norm measured (that of the returned theta when it is <= tolerance) and
    the loss where it was measured."""
    _, params = _parameters(model)
    norm, value = math.inf, math.nan
    for step in range(max_steps):
        grads, value = proximal_gradient(model, loss, reference, lam)
        norm = float(torch.sqrt(sum((g * g).sum() for g in grads)))
        if norm <= tolerance:
            return step, norm, value
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
    return max_steps, norm, value


def batch_backward(encoded, targets: torch.Tensor, index: torch.Tensor, settings: TrainSettings) -> Backward:
    """f_i on the texts ``index`` (the local objective of fedrobust.federated.local_training)."""
    ids, mask, y = encoded["input_ids"][index], encoded["attention_mask"][index], targets[index]

    def backward(model: nn.Module) -> float:
        loss = batch_loss(model, ids, mask, y, settings)
        loss.backward()
        return float(loss.detach())

    return backward


def full_batch_backward(encoded, targets: torch.Tensor, settings: TrainSettings) -> Backward:
    """f_i on all the texts, backpropagated ``batch_size`` texts at a time (each chunk weighted by its share)."""
    n, size = len(targets), max(1, settings.batch_size)

    def backward(model: nn.Module) -> float:
        total = 0.0
        for start in range(0, n, size):
            index = torch.arange(start, min(start + size, n))
            loss = batch_loss(model, encoded["input_ids"][index], encoded["attention_mask"][index], targets[index],
                              settings) * (len(index) / n)
            loss.backward()
            total += float(loss.detach())
        return total

    return backward


def encode(tokenizer, texts, labels) -> tuple[dict, torch.Tensor]:
    return tokenizer(list(texts)), torch.as_tensor(list(labels), dtype=torch.long)


def _floating(model: nn.Module) -> Weights:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


@register_algorithm
class PFedMe(Algorithm):
    name = "pfedme"
    Params = PFedMeParams
    personalizes = True

    def train(self, call: ClientCall) -> dict[str, float]:
        p, data, settings = self.params, call.data, local_settings(call.config)
        n = len(data.train_labels)
        if n == 0 or settings.epochs == 0:
            return {"train_loss": float("nan"), "steps": 0}
        local = call.model  # w: starts at the received global model
        global_weights = _floating(local)
        personal = copy.deepcopy(local)  # theta
        torch.manual_seed(call.seed("pfedme-dropout"))
        generator = torch.Generator().manual_seed(call.seed("train"))
        encoded, targets = encode(call.tokenizer, data.train_texts, data.train_labels)
        names, local_params = _parameters(local)
        _, personal_params = _parameters(personal)
        personal.train()
        losses = []
        for _ in range(settings.epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, settings.batch_size):
                batch = batch_backward(encoded, targets, order[start:start + settings.batch_size], settings)
                reference = {name: w.detach().clone() for name, w in zip(names, local_params)}
                _, _, loss = solve_proximal(personal, batch, reference, p.lam, p.personal_lr, p.inner_steps,
                                            p.tolerance)
                losses.append(loss)
                with torch.no_grad():
                    for w, theta in zip(local_params, personal_params):
                        w.sub_(settings.lr * p.lam * (w - theta))
        with torch.no_grad():  # what FedAvg averages into (1 - beta) w_global + beta mean(w_i)
            for key, w in local.state_dict().items():
                if key in global_weights:
                    w.copy_(global_weights[key] + p.beta * (w - global_weights[key]))
        local.eval()
        return {"train_loss": sum(losses) / len(losses), "steps": len(losses)}

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        p, data = self.params, call.data
        theta = copy.deepcopy(self.global_model(call))
        reference = _floating(theta)
        settings = final_settings(call, self)
        if settings.dp is not None and settings.dp.enabled:
            train_locally(theta, call.tokenizer, data.train_texts, data.train_labels, settings,
                          seed=call.seed("personalize"), penalty=proximal_pull(reference, p.lam))
            return theta
        if not data.train_labels:
            return theta
        theta.eval()  # h must not change between steps: no dropout
        loss = full_batch_backward(*encode(call.tokenizer, data.train_texts, data.train_labels), settings)
        solve_proximal(theta, loss, reference, p.lam, p.personal_lr, p.final_steps, p.tolerance)
        return theta

