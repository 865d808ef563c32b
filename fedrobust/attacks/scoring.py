"""Batched class probabilities for many texts at once: the engine under the fast attacks."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from fedrobust.attacks.piecewise_tokens import Candidate, PiecewiseEncoder, Splices, SwapGroup
from fedrobust.models.base import OffersSwapLogitsReuser, SwapLogitsReuser, TextClassifier

# below this many swaps of one text, one full pass of the text costs more than reuse saves
_MIN_SWAPS_TO_REUSE = 3
# reuse runs two GRU passes with a fixed cost per time step: a few swaps go faster in one pass
_MIN_SWAPS_PER_REUSE_CALL = 48

Encode = Callable[[list[int]], dict[str, torch.Tensor]]  # positions in one request -> model inputs


class BatchScorer:
    """Scores texts in length-sorted batches (less padding) under inference mode.

    Candidates with identical token ids are run once. A model that offers a ``SwapLogitsReuser``
    (the BiGRU-attention student reuses a text's GRU states) scores swaps of a text through it
    (``reuse_states=False`` turns that off) in batches of ``reuse_batch_size`` swaps; other models
    run whole in batches of ``batch_size`` (small ones suit a transformer on a CPU). ``calls``
    counts forward passes and ``texts_scored`` the texts scored, for benchmarks.
    """

    def __init__(
        self,
        model: TextClassifier,
        tokenizer: Any,
        batch_size: int = 64,
        reuse_states: bool = True,
        reuse_batch_size: int = 256,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.reuse_batch_size = reuse_batch_size
        self.encoder = PiecewiseEncoder(tokenizer)
        self.reuse = swap_logits_reuser(model) if reuse_states else None
        self.calls = 0
        self.texts_scored = 0

    def _run(self, count: int, lengths: Sequence[int], encode: Encode) -> np.ndarray:
        out = np.empty((count, self.model.num_labels), dtype=np.float32)
        if count == 0:
            return out
        order = sorted(range(count), key=lengths.__getitem__)
        with self._eval_mode(), torch.inference_mode():
            for start in range(0, count, self.batch_size):
                chunk = order[start : start + self.batch_size]
                batch = encode(chunk)
                out[chunk] = self.model(batch["input_ids"], batch["attention_mask"]).float().cpu().numpy()
                self.calls += 1
        self.texts_scored += count
        return out

    def forget(self) -> None:
        """Drop what was learned about the texts of this attack batch (piece ids stay cached)."""
        self.encoder.forget()
        if self.reuse is not None:
            self.reuse.forget()

    def logits(self, texts: Sequence[str], remember: bool = False) -> np.ndarray:
        """Logits of whole texts. ``remember``: their ids (and the model's reuse states, where it offers
        them) are kept until ``forget`` for scoring their swaps; the word-swap searches ask for this."""
        ids = self.encoder.text_ids(texts) if remember else self.encoder.tokenize(texts)
        reused = self._reused_text_logits(ids) if remember else None
        if reused is not None:
            return reused
        return self._run(len(ids), [len(x) for x in ids], lambda chunk: self.encoder.pad([ids[i] for i in chunk]))

    def probabilities(self, texts: Sequence[str], remember: bool = False) -> np.ndarray:
        return softmax(self.logits(texts, remember))

    def _reused_text_logits(self, ids: list[list[int]]) -> np.ndarray | None:
        if self.reuse is None or not self.reuse.enabled:
            return None
        out = np.empty((len(ids), self.model.num_labels), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self._eval_mode():
            for start in range(0, len(order), self.reuse_batch_size):
                chunk = order[start : start + self.reuse_batch_size]
                logits = self.reuse.text_logits([ids[i] for i in chunk])
                if logits is None:
                    return None
                out[chunk] = logits
                self.calls += 1
                self.texts_scored += len(chunk)
        return out

    def ids_probabilities(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Probabilities for unpadded token id sequences; duplicates are scored once."""
        first: dict[tuple[int, ...], int] = {}
        where = np.fromiter((first.setdefault(tuple(x), len(first)) for x in ids), dtype=np.int64, count=len(ids))
        unique = list(first)
        logits = self._run(len(unique), [len(x) for x in unique], lambda chunk: self.encoder.pad([unique[i] for i in chunk]))
        return softmax(logits)[where]

    def candidate_probabilities(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """Probabilities of word-swapped versions of texts, tokenized piecewise where that is exact."""
        return self.ids_probabilities(self.encoder.encode(candidates))

    def swap_probabilities(self, groups: Sequence[SwapGroup]) -> list[np.ndarray]:
        """Probabilities (n_swaps, C) for each group of one-word swaps of one text."""
        splices = self.encoder.splice_swaps(groups)
        if self.reuse is not None:
            self.reuse.next_round()
        reuse = [g for g, s in enumerate(splices) if s is not None and len(s.swaps) >= _MIN_SWAPS_TO_REUSE]
        out: list[np.ndarray | None] = [None] * len(groups)
        if self.reuse is not None and sum(len(splices[g].swaps) for g in reuse) >= _MIN_SWAPS_PER_REUSE_CALL:  # type: ignore[union-attr]
            for chunk, logits in self._reused_logits([splices[g] for g in reuse]):  # type: ignore[misc]
                probs = softmax(logits)
                bounds = np.cumsum([0] + [len(splices[reuse[k]].swaps) for k in chunk])  # type: ignore[union-attr]
                for k, a, b in zip(chunk, bounds[:-1], bounds[1:]):
                    out[reuse[k]] = probs[a:b]
        rest = [g for g in range(len(groups)) if out[g] is None]
        if rest:
            probs = self.ids_probabilities(self.encoder.encode_swaps([groups[g] for g in rest], [splices[g] for g in rest]))
            bounds = np.cumsum([0] + [len(groups[g][2]) for g in rest])
            for g, a, b in zip(rest, bounds[:-1], bounds[1:]):
                out[g] = probs[a:b]
        return out  # type: ignore[return-value]

    def _reused_logits(self, splices: list[Splices]) -> Iterator[tuple[list[int], np.ndarray]]:
        """(positions in ``splices``, logits of their swaps) per batch of about ``reuse_batch_size`` swaps,
        texts of similar length together; yields nothing once the reuse path has switched off."""
        order = sorted(range(len(splices)), key=lambda k: len(splices[k].base))
        with self._eval_mode():
            start = 0
            while start < len(order):
                chunk, size = [], 0
                while start < len(order) and (not chunk or size + len(splices[order[start]].swaps) <= self.reuse_batch_size):
                    chunk.append(order[start])
                    size += len(splices[order[start]].swaps)
                    start += 1
                logits = self.reuse.swap_logits(  # type: ignore[union-attr]
                    [splices[k].base for k in chunk], [splices[k].swaps for k in chunk]
                )
                if logits is None:
                    return
                self.calls += 1
                self.texts_scored += size
                yield chunk, logits

    def _eval_mode(self) -> contextlib.AbstractContextManager[None]:
        return eval_mode(self.model)


def swap_logits_reuser(model: TextClassifier) -> SwapLogitsReuser | None:
    """The model's optional fast path for word swaps (a fresh one for this caller), or None."""
    return model.swap_logits_reuser() if isinstance(model, OffersSwapLogitsReuser) else None


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """The model in eval mode inside, as it was after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
