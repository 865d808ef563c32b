"""The proximal term mu/2 ||w - w_ref||^2 that pulls local training toward reference weights:
FedProx's pull toward the round's global model, and Ditto's pull of the personal model toward it.
A local-training penalty (fedrobust.federated.local_training.Penalty)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def proximal_term(model: nn.Module, reference: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over the referenced parameters of ||w - w_ref||^2 (the term without mu/2)."""
    total = torch.zeros(())
    for name, param in model.named_parameters():
        if name in reference:
            total = total + (param - reference[name]).pow(2).sum()
    return total


@dataclass(frozen=True)
class ProximalPull:
    reference: dict[str, torch.Tensor]  # detached weights, e.g. the global model the device received
    mu: float

    def loss(self, model: nn.Module) -> torch.Tensor:
        return 0.5 * self.mu * proximal_term(model, self.reference)

    def add_gradient(self, model: nn.Module) -> None:
        """mu (w - w_ref) into the gradient of every trainable referenced parameter."""
        for name, param in model.named_parameters():
            if param.requires_grad and name in self.reference:
                param.grad.add_(self.mu * (param.detach() - self.reference[name]))


def proximal_pull(reference: dict[str, torch.Tensor], mu: float) -> ProximalPull | None:
    """The penalty for local training; None at mu 0, so training is exactly the plain one."""
    return ProximalPull({k: v.detach() for k, v in reference.items()}, mu) if mu > 0 else None
