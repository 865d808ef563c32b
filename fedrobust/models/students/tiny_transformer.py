"""A tiny transformer encoder: compact embeddings + learned positions, pre-norm layers, mean pooling."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fedrobust.models.base import ClassifierOutput
from fedrobust.models.embeddings import build_embedding
from fedrobust.models.registry import STUDENTS
from fedrobust.models.students.common import CompactStudent


@STUDENTS.register("tiny_transformer")
class TinyTransformerStudent(CompactStudent):
    registry_name = "tiny_transformer"

    def __init__(
        self,
        num_labels: int,
        vocab_size: int,
        embedding: dict[str, Any] | None = None,
        layers: int = 2,
        heads: int = 4,
        ff_dim: int = 128,
        max_length: int = 128,
        dropout: float = 0.1,
    ) -> None:
        embedding = dict(embedding or {"kind": "pruned", "dim": 64})
        super().__init__(
            num_labels,
            vocab_size,
            {
                "embedding": embedding,
                "layers": layers,
                "heads": heads,
                "ff_dim": ff_dim,
                "max_length": max_length,
                "dropout": dropout,
            },
        )
        self.embedding = build_embedding(vocab_size, embedding)
        dim = self.embedding.dim
        self.positions = nn.Embedding(max_length, dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, ff_dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.classifier = nn.Linear(dim, num_labels)
        self.feature_dim = dim

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        length = embeddings.shape[1]
        x = embeddings + self.positions(torch.arange(length, device=embeddings.device))
        states = self.norm(self.encoder(x, src_key_padding_mask=attention_mask == 0))
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        features = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return ClassifierOutput(self.classifier(features), features)
