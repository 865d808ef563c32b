"""Which parameters a device trains: all, the classifier head only, or residual adapters.

Every student names its output layer ``classifier``; that is the head. Adapters (Houlsby et
al. 2019) are a zero-initialized residual bottleneck inserted before the head, so a model with
fresh adapters computes exactly what it computed before.
"""

from __future__ import annotations

import torch
from torch import nn

from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier

HEAD = "classifier"


class ResidualAdapter(nn.Module):
    def __init__(self, dim: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.up(torch.relu(self.down(features)))


def head_keys(model: TextClassifier) -> list[str]:
    keys = [k for k in model.state_dict() if k.split(".")[0] == HEAD]
    if not keys:
        raise ConfigError(f"{type(model).__name__} has no '{HEAD}' head; head-only personalization and FedRep need one")
    return keys


def body_keys(model: TextClassifier) -> list[str]:
    heads = set(head_keys(model))
    return [k for k in model.state_dict() if k not in heads]


def add_adapters(model: TextClassifier, bottleneck: int) -> list[nn.Parameter]:
    """Put an adapter in front of the head; returns the parameters to train (adapter + head)."""
    head = getattr(model, HEAD)
    if not isinstance(head, nn.Linear):
        raise ConfigError(f"{type(model).__name__}.{HEAD} is not a Linear layer; adapters need one")
    adapter = ResidualAdapter(head.in_features, bottleneck)
    setattr(model, HEAD, nn.Sequential(adapter, head))
    return list(getattr(model, HEAD).parameters())


def trainable_parameters(model: TextClassifier, group: str, adapter_dim: int = 16) -> list[nn.Parameter]:
    if group == "all":
        return list(model.parameters())
    if group == "head":
        return list(getattr(model, HEAD).parameters())
    if group == "adapters":
        return add_adapters(model, adapter_dim)
    raise ConfigError(f"unknown parameter group {group!r}; one of all, head, adapters")
