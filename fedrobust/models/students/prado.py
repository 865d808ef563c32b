"""PRADO (Kaliamoorthi et al. 2019): projection attention networks without an embedding table.

Each token is mapped by fixed hash functions to a ternary vector in {-1, 0, 1}^B (two hash bits
per dimension), so the model stores no per-token parameters at all. A learned dense layer
follows, then for each n-gram size a convolution producing values and one producing attention
logits; attention-weighted sums over time are concatenated and classified. Hashing the teacher's
WordPiece id is hashing the token string, since ids and strings are one to one.
"""

from __future__ import annotations

import torch
from torch import nn

from fedrobust.models.base import ClassifierOutput
from fedrobust.models.registry import STUDENTS
from fedrobust.models.students.common import CompactStudent, masked_softmax

_PRIME = 2_147_483_647


@STUDENTS.register("prado")
class PradoStudent(CompactStudent):
    registry_name = "prado"

    def __init__(
        self,
        num_labels: int,
        vocab_size: int,
        projection_dim: int = 128,
        dim: int = 64,
        channels: int = 64,
        ngram_sizes: list[int] | tuple[int, ...] = (1, 2, 3),
        dropout: float = 0.2,
        pad_token_id: int = 0,
        hash_seed: int = 0,
    ) -> None:
        ngram_sizes = [int(n) for n in ngram_sizes]
        super().__init__(
            num_labels,
            vocab_size,
            {
                "projection_dim": projection_dim,
                "dim": dim,
                "channels": channels,
                "ngram_sizes": ngram_sizes,
                "dropout": dropout,
                "pad_token_id": pad_token_id,
                "hash_seed": hash_seed,
            },
        )
        generator = torch.Generator().manual_seed(hash_seed)
        coefficients = torch.randint(1, _PRIME, (2, 2 * projection_dim), generator=generator, dtype=torch.long)
        self.register_buffer("hash_coefficients", coefficients, persistent=False)
        self.pad_token_id = pad_token_id
        self.dense = nn.Linear(projection_dim, dim)
        self.values = nn.ModuleList(nn.Conv1d(dim, channels, n) for n in ngram_sizes)
        self.attention = nn.ModuleList(nn.Conv1d(dim, channels, n) for n in ngram_sizes)
        self.ngram_sizes = ngram_sizes
        self.dropout = nn.Dropout(dropout)
        self.feature_dim = channels * len(ngram_sizes)
        self.classifier = nn.Linear(self.feature_dim, num_labels)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The ternary projection (B, L, projection_dim); padding projects to zeros."""
        a, b = self.hash_coefficients
        hashed = (((input_ids.long()[..., None] + 1) * a + b) % _PRIME) >> 8  # drop weak low bits
        bits = (hashed & 1).to(torch.float32)
        ternary = bits[..., 0::2] - bits[..., 1::2]
        return ternary * (input_ids != self.pad_token_id).unsqueeze(-1)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        x = torch.relu(self.dense(self.dropout(embeddings))).transpose(1, 2)  # (B, dim, L)
        pooled = []
        for n, value_conv, attention_conv in zip(self.ngram_sizes, self.values, self.attention):
            # Left-pad so window t covers tokens t-n+1..t and every real token starts a window.
            padded = nn.functional.pad(x, (n - 1, 0))
            values, logits = value_conv(padded), attention_conv(padded)  # (B, C, L)
            weights = masked_softmax(logits, attention_mask[:, None, :], dim=2)
            pooled.append((weights * values).sum(dim=2))
        features = torch.cat(pooled, dim=1)
        return ClassifierOutput(self.classifier(self.dropout(features)), features)
