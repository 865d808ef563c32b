"""The project's own compact student: small (pruned or hashed) embeddings, a BiGRU, attention pooling."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from fedrobust.models.base import ClassifierOutput, SwapLogitsReuser
from fedrobust.models.embeddings import build_embedding
from fedrobust.models.registry import STUDENTS
from fedrobust.models.students.bigru_state_reuse import BiGRUSwapLogits
from fedrobust.models.students.common import AttentionPooling, CompactStudent


@STUDENTS.register("bigru_attention")
class BiGRUAttentionStudent(CompactStudent):
    registry_name = "bigru_attention"

    def __init__(
        self,
        num_labels: int,
        vocab_size: int,
        embedding: dict[str, Any] | None = None,
        hidden: int = 64,
        dropout: float = 0.2,
    ) -> None:
        embedding = dict(embedding or {"kind": "pruned", "dim": 64})
        super().__init__(num_labels, vocab_size, {"embedding": embedding, "hidden": hidden, "dropout": dropout})
        self.embedding = build_embedding(vocab_size, embedding)
        self.gru = nn.GRU(self.embedding.dim, hidden, batch_first=True, bidirectional=True)
        self.pool = AttentionPooling(2 * hidden)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden, num_labels)
        self.feature_dim = 2 * hidden

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        lengths = attention_mask.sum(dim=1).clamp(min=1).cpu()
        # Packing keeps the backward direction from reading padding, so a prediction does not
        # depend on what else is in the batch.
        packed = pack_padded_sequence(self.dropout(embeddings), lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.gru(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=embeddings.shape[1])
        features = self.pool(states, attention_mask)
        return ClassifierOutput(self.classifier(self.dropout(features)), features)

    def swap_logits_reuser(self) -> SwapLogitsReuser | None:
        """Logits of word swaps that reuse the text's GRU states (``bigru_state_reuse``); None when
        compression replaced the parts it reads."""
        return BiGRUSwapLogits.for_model(self)
