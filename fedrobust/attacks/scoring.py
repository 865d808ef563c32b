"""Batched class probabilities for many texts at once: the engine under the fast attacks."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from fedrobust.attacks.piecewise_tokens import Candidate, PiecewiseEncoder
from fedrobust.models.base import TextClassifier

Encode = Callable[[list[int]], dict[str, torch.Tensor]]  # positions in one request -> model inputs


class BatchScorer:
    """Scores texts in length-sorted batches (less padding) under inference mode.

    ``calls`` counts forward passes and ``texts_scored`` counts texts, for benchmarks.
    """

    def __init__(self, model: TextClassifier, tokenizer: Any, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.encoder = PiecewiseEncoder(tokenizer)
        self.calls = 0
        self.texts_scored = 0

    def _run(self, count: int, lengths: Sequence[int], encode: Encode) -> np.ndarray:
        out = np.empty((count, self.model.num_labels), dtype=np.float32)
        if count == 0:
            return out
        order = sorted(range(count), key=lambda i: lengths[i])
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, count, self.batch_size):
                    chunk = order[start : start + self.batch_size]
                    batch = encode(chunk)
                    out[chunk] = self.model(batch["input_ids"], batch["attention_mask"]).float().cpu().numpy()
                    self.calls += 1
        finally:
            self.model.train(was_training)
        self.texts_scored += count
        return out

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(len(texts), [len(t) for t in texts], lambda chunk: self.tokenizer([texts[i] for i in chunk]))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return softmax(self.logits(texts))

    def candidate_probabilities(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Probabilities of word-swapped versions of texts, tokenized piecewise where that is exact."""
        ids = self.encoder.encode(candidates)
        logits = self._run(len(ids), [len(x) for x in ids], lambda chunk: self.encoder.pad([ids[i] for i in chunk]))
        return softmax(logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
