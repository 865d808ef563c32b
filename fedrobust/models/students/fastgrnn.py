"""FastGRNN (Kusupati et al. 2018): a gated RNN whose gate and candidate share W and U.

    z_t  = sigmoid(W x_t + U h_{t-1} + b_z)
    h~_t = tanh(W x_t + U h_{t-1} + b_h)
    h_t  = (zeta (1 - z_t) + nu) * h~_t + z_t * h_{t-1}

zeta and nu are trained scalars squashed into (0, 1); W and U are optionally low rank
(``rank_w``, ``rank_u``). The final hidden state at each sequence's last real token classifies.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fedrobust.models.base import ClassifierOutput
from fedrobust.models.embeddings import build_embedding
from fedrobust.models.lowrank import linear_or_low_rank
from fedrobust.models.registry import STUDENTS
from fedrobust.models.students.common import CompactStudent


@STUDENTS.register("fastgrnn")
class FastGRNNStudent(CompactStudent):
    registry_name = "fastgrnn"

    def __init__(
        self,
        num_labels: int,
        vocab_size: int,
        embedding: dict[str, Any] | None = None,
        hidden: int = 64,
        rank_w: int | None = None,
        rank_u: int | None = None,
        dropout: float = 0.2,
    ) -> None:
        embedding = dict(embedding or {"kind": "pruned", "dim": 64})
        super().__init__(
            num_labels,
            vocab_size,
            {"embedding": embedding, "hidden": hidden, "rank_w": rank_w, "rank_u": rank_u, "dropout": dropout},
        )
        self.embedding = build_embedding(vocab_size, embedding)
        self.hidden = hidden
        self.W = linear_or_low_rank(self.embedding.dim, hidden, rank_w, bias=False)
        self.U = linear_or_low_rank(hidden, hidden, rank_u, bias=False)
        self.bias_gate = nn.Parameter(torch.ones(hidden))
        self.bias_update = nn.Parameter(torch.ones(hidden))
        # sigmoid(3) ~ 0.95 and sigmoid(-4) ~ 0.02: the paper's zeta ~ 1, small nu start.
        self.zeta_logit = nn.Parameter(torch.tensor(3.0))
        self.nu_logit = nn.Parameter(torch.tensor(-4.0))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_labels)
        self.feature_dim = hidden

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        batch, length, _ = embeddings.shape
        wx = self.W(self.dropout(embeddings))  # (B, L, H): the input term for every step at once
        zeta, nu = torch.sigmoid(self.zeta_logit), torch.sigmoid(self.nu_logit)
        mask = attention_mask.to(embeddings.dtype).unsqueeze(-1)
        h = embeddings.new_zeros(batch, self.hidden)
        for t in range(length):
            pre = wx[:, t] + self.U(h)
            z = torch.sigmoid(pre + self.bias_gate)
            candidate = torch.tanh(pre + self.bias_update)
            h_next = (zeta * (1 - z) + nu) * candidate + z * h
            h = mask[:, t] * h_next + (1 - mask[:, t]) * h  # padding leaves the state unchanged
        return ClassifierOutput(self.classifier(self.dropout(h)), h)
