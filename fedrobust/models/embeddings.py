"""Token embeddings that keep the vocabulary cost of a compact student small.

A 30522 x D table alone would exceed a 1/20-of-the-teacher budget, so students use either
- ``pruned``: one row per token seen in training (the rest share the [UNK] row); the
  teacher-vocabulary -> row map is a buffer, so inputs stay in the teacher's token ids;
- ``hashed``: ``num_hashes`` universal hashes of the token id into a small table, summed;
- ``factorized``: every token of the vocabulary, as a ``rank``-wide row times a shared
  ``rank x dim`` map (ALBERT-style), so tokens unseen in training still have a vector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fedrobust.errors import ConfigError

PAD_ROW, UNK_ROW = 0, 1
_PRIME = 2_147_483_647  # 2^31 - 1: (id + 1) * a stays inside int64


class PrunedEmbedding(nn.Module):
    def __init__(self, vocab_size: int, num_embeddings: int, dim: int) -> None:
        super().__init__()
        self.vocab_size, self.num_embeddings, self.dim = vocab_size, num_embeddings, dim
        self.table = nn.Embedding(num_embeddings, dim, padding_idx=PAD_ROW)
        nn.init.normal_(self.table.weight, std=dim**-0.5)
        with torch.no_grad():
            self.table.weight[PAD_ROW].zero_()
        id_map = torch.full((vocab_size,), UNK_ROW, dtype=torch.int32)
        self.register_buffer("id_map", id_map)

    def set_vocabulary(self, kept_ids: list[int], pad_id: int, init: torch.Tensor | None = None) -> None:
        """Give each kept teacher token id (unique, not [PAD]) its own row; rows 0, 1 are [PAD], [UNK].

        ``init`` (len(kept_ids) x dim), when given, initialises those rows in order, e.g. with the
        teacher's embeddings reduced by PCA.
        """
        if len(set(kept_ids)) != len(kept_ids) or pad_id in kept_ids:
            raise ValueError("kept_ids must be unique and must not contain the padding id")
        if len(kept_ids) + 2 > self.num_embeddings:
            raise ConfigError(
                f"vocabulary of {len(kept_ids)} tokens does not fit student.embedding.num_embeddings="
                f"{self.num_embeddings}; raise it or vocabulary.min_count"
            )
        id_map = torch.full((self.vocab_size,), UNK_ROW, dtype=torch.int32)
        id_map[pad_id] = PAD_ROW
        id_map[torch.tensor(kept_ids, dtype=torch.long)] = torch.arange(2, 2 + len(kept_ids), dtype=torch.int32)
        self.id_map.copy_(id_map)
        if init is not None:
            with torch.no_grad():
                self.table.weight[2 : 2 + len(kept_ids)].copy_(init)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table(self.id_map[input_ids].long())

    def full_table(self) -> torch.Tensor:
        return self.table.weight[self.id_map.long()]


class HashedEmbedding(nn.Module):
    def __init__(self, vocab_size: int, num_buckets: int, dim: int, num_hashes: int = 2, seed: int = 0) -> None:
        super().__init__()
        self.vocab_size, self.num_buckets, self.dim = vocab_size, num_buckets, dim
        self.table = nn.Embedding(num_buckets, dim)
        nn.init.normal_(self.table.weight, std=(dim * num_hashes) ** -0.5)
        generator = torch.Generator().manual_seed(seed)
        coefficients = torch.randint(1, _PRIME, (2, num_hashes), generator=generator, dtype=torch.long)
        # Derived from the seed, so not saved: the weights file holds only the table.
        self.register_buffer("coefficients", coefficients, persistent=False)

    def buckets(self, input_ids: torch.Tensor) -> torch.Tensor:
        a, b = self.coefficients
        return (((input_ids.long()[..., None] + 1) * a + b) % _PRIME) % self.num_buckets

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table(self.buckets(input_ids)).sum(dim=-2)

    def full_table(self) -> torch.Tensor:
        return self.forward(torch.arange(self.vocab_size))


class FactorizedEmbedding(nn.Module):
    def __init__(self, vocab_size: int, rank: int, dim: int, train_table: bool = True) -> None:
        super().__init__()
        self.vocab_size, self.rank, self.dim = vocab_size, rank, dim
        self.table = nn.Embedding(vocab_size, rank)
        nn.init.normal_(self.table.weight, std=rank**-0.5)
        self.table.weight.requires_grad_(train_table)
        self.project = nn.Linear(rank, dim, bias=False)

    def set_table(self, rows: torch.Tensor) -> None:
        with torch.no_grad():
            self.table.weight.copy_(rows)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.table(input_ids))

    def full_table(self) -> torch.Tensor:
        return self.project(self.table.weight)


EMBEDDING_KEYS = {
    "pruned": {"kind", "dim", "num_embeddings"},
    "hashed": {"kind", "dim", "num_buckets", "num_hashes", "seed"},
    "factorized": {"kind", "dim", "rank", "train_table"},
}


def build_embedding(vocab_size: int, spec: dict[str, Any]) -> nn.Module:
    """``spec``: {"kind": "pruned" | "hashed" | "factorized", "dim", ...size keys of that kind}."""
    kind = spec.get("kind", "pruned")
    if kind not in EMBEDDING_KEYS:
        raise ConfigError(f"student.embedding.kind must be one of {sorted(EMBEDDING_KEYS)}, got {kind!r}")
    unknown = set(spec) - EMBEDDING_KEYS[kind]
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in student.embedding ({kind} embedding)")
    dim = int(spec.get("dim", 64))
    if kind == "pruned":
        return PrunedEmbedding(vocab_size, int(spec.get("num_embeddings", 12000)), dim)
    if kind == "factorized":
        return FactorizedEmbedding(vocab_size, int(spec.get("rank", 32)), dim, bool(spec.get("train_table", True)))
    return HashedEmbedding(
        vocab_size, int(spec.get("num_buckets", 8192)), dim, int(spec.get("num_hashes", 2)), int(spec.get("seed", 0))
    )
