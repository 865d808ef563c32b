"""Pieces several students share: constructor bookkeeping and masked attention pooling."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fedrobust.models.base import TextClassifier


class CompactStudent(TextClassifier):
    """A student that remembers its registry name and constructor config, so io can rebuild it."""

    registry_name: str = ""
    feature_dim: int

    def __init__(self, num_labels: int, vocab_size: int, config: dict[str, Any]) -> None:
        super().__init__()
        self.num_labels, self.vocab_size = num_labels, vocab_size
        self.config = {"num_labels": num_labels, "vocab_size": vocab_size, **config}

    def input_embedding_weight(self) -> torch.Tensor | None:
        embedding = getattr(self, "embedding", None)
        return embedding.full_table() if embedding is not None else None


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Softmax over ``dim`` ignoring positions where ``mask`` is 0 (mask broadcast to scores)."""
    scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim)


class AttentionPooling(nn.Module):
    """Additive attention: weights = softmax_t(v . tanh(W h_t)), pooled = sum_t weights_t h_t."""

    def __init__(self, dim: int, attention_dim: int | None = None) -> None:
        super().__init__()
        attention_dim = attention_dim or dim
        self.project = nn.Linear(dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(torch.tanh(self.project(states))).squeeze(-1)
        weights = masked_softmax(scores, attention_mask)
        return torch.einsum("bl,bld->bd", weights, states)
