"""The contract every classifier in fedrobust (teacher, students, personalized copies) meets.

Attacks, attributions, embedding-space adversarial training and feature mapping all need the
same three entry points, so every model exposes them:

- ``embed(input_ids)`` -> (B, L, D) continuous token representations: the point where
  gradients, perturbations and token attributions are taken;
- ``classify_embeddings(embeddings, attention_mask)`` -> ``ClassifierOutput`` with logits
  (B, C) and a pooled feature vector (B, H) used for representation alignment;
- ``forward(input_ids, attention_mask)`` -> logits, the composition of the two.

A model that can answer some questions faster than its forward offers an optional method for
them (``OffersSwapLogitsReuser``): callers ask for it and fall back to ``forward`` without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
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


# A text's token ids with one span replaced: (ids, shared prefix, shared suffix), where the first
# ``shared prefix`` and the last ``shared suffix`` ids are the text's own.
TokenSwap = tuple[list[int], int, int]


@runtime_checkable
class SwapLogitsReuser(Protocol):
    """Logits of texts and of many one-span swaps of each, faster than ``forward`` (e.g. by reusing
    the text's recurrent states around the swap). Unpadded token ids in, (N, C) logits out.

    It remembers the texts it has seen (and the swaps of small groups, which may become the next
    texts) for one round: ``next_round`` starts a new one, ``forget`` drops everything (call it
    whenever the model may have changed). ``enabled`` turns False for good when it finds that its
    logits differ from the model's; from then on both methods return None: use ``forward``.
    """

    enabled: bool

    def text_logits(self, texts: Sequence[list[int]]) -> np.ndarray | None: ...

    def swap_logits(self, texts: Sequence[list[int]], swaps: Sequence[Sequence[TokenSwap]]) -> np.ndarray | None:
        """Logits of every swap of every text, flattened in order (``swaps[k]`` are swaps of ``texts[k]``)."""

    def next_round(self) -> None: ...

    def forget(self) -> None: ...


@runtime_checkable
class OffersSwapLogitsReuser(Protocol):
    """An optional method of a model: a new ``SwapLogitsReuser`` for it (each caller keeps its own,
    with its own memory of texts), or None when this instance cannot offer one."""

    def swap_logits_reuser(self) -> SwapLogitsReuser | None: ...
