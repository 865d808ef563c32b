"""The contract every classifier in fedrobust (teacher, students, personalized copies) meets.

Attacks, attributions, embedding-space adversarial training and feature mapping all need the
same three entry points, so every model exposes them:

- ``embed(input_ids)`` -> (B, L, D) continuous token representations: the point where
  gradients, perturbations and token attributions are taken;
- ``classify_embeddings(embeddings, attention_mask)`` -> ``ClassifierOutput`` with logits
  (B, C) and a pooled feature vector (B, H) used for representation alignment;
- ``forward(input_ids, attention_mask)`` -> logits, the composition of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ClassifierOutput:
    logits: torch.Tensor
    features: torch.Tensor
    token_states: torch.Tensor | None = None  # (batch, length, dim) last-layer states, where a model has them


class TextClassifier(nn.Module):
    """Base class: subclasses implement ``embed`` and ``classify_embeddings``."""

    num_labels: int

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def classify_embeddings(
        self, embeddings: torch.Tensor, attention_mask: torch.Tensor
    ) -> ClassifierOutput:
        raise NotImplementedError

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.classify_embeddings(self.embed(input_ids), attention_mask).logits

    def input_embedding_weight(self) -> torch.Tensor | None:
        """The (V, D) token embedding table when ``embed`` is a lookup in one, else None.

        Gradient-guided token flips (HotFlip) need it; hashed projections (PRADO) have none.
        """
        return None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
