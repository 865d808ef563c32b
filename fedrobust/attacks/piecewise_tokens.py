"""Token ids of word-swapped texts assembled from cached per-piece ids instead of re-tokenizing.

Word-swap attacks score thousands of texts that differ from one original in a word or two.
With a tokenizer that splits at every boundary between a word and its surroundings (BERT's
WordPiece splits on whitespace and punctuation), the ids of ``seps[0] w[0] seps[1] ... `` are the
tokenizer's prefix, the concatenated ids of each piece, then its suffix, truncated to
``max_length``. This is checked per original text: when assembling its unmodified words does not
give exactly the tokenizer's ids (or the tokenizer has no ``max_length``/``pad_token_id``), that
text's candidates go through the tokenizer as usual.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from fedrobust.attacks.words import SplitText

Candidate = tuple[SplitText, Sequence[str]]  # an original text and the words that replace its words


class PiecewiseEncoder:
    """Encodes candidates to padded {"input_ids", "attention_mask"} batches, like the tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.max_length = getattr(tokenizer, "max_length", None)
        self.pad_id = getattr(tokenizer, "pad_token_id", None)
        self._pieces: dict[str, list[int] | None] = {}
        self._verified: dict[SplitText, bool] = {}
        self.assembled = 0  # candidates encoded without the tokenizer, for tests and benchmarks
        self.enabled = isinstance(self.max_length, int) and isinstance(self.pad_id, int) and self._learn_layout()

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        batch = self.tokenizer(texts)
        return [
            [i for i, m in zip(ids, mask) if m]
            for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist())
        ]

    def _learn_layout(self) -> bool:
        """Find the special tokens around every text: those of "" split where "a" inserts its token."""
        empty, probe = self._ids(["", "a"])
        if len(probe) <= len(empty):
            return False
        k = 0
        while k < len(empty) and empty[k] == probe[k]:
            k += 1
        self.prefix, self.suffix = empty[:k], empty[k:]
        return probe[len(probe) - len(self.suffix) :] == self.suffix

    def _learn_pieces(self, pieces: Sequence[str]) -> None:
        missing = [p for p in dict.fromkeys(pieces) if p not in self._pieces]
        for start in range(0, len(missing), 1024):
            chunk = missing[start : start + 1024]
            for piece, ids in zip(chunk, self._ids(chunk)):
                content = ids[len(self.prefix) : len(ids) - len(self.suffix)]
                # a piece that may have been truncated cannot be trusted
                self._pieces[piece] = None if len(ids) >= self.max_length else content

    def _assemble(self, split: SplitText, words: Sequence[str]) -> list[int] | None:
        content: list[int] = []
        for sep, word in zip(split.seps, words):
            for piece in (sep, word):
                ids = self._pieces[piece]
                if ids is None:
                    return None
                content.extend(ids)
        last = self._pieces[split.seps[-1]]
        if last is None:
            return None
        content.extend(last)
        return self.prefix + content[: self.max_length - len(self.prefix) - len(self.suffix)] + self.suffix

    def _verify(self, splits: list[SplitText]) -> None:
        todo = [s for s in dict.fromkeys(splits) if s not in self._verified]
        if not todo:
            return
        self._learn_pieces([p for s in todo for p in s.seps + s.words])
        for split, ids in zip(todo, self._ids([s.text for s in todo])):
            self._verified[split] = self._assemble(split, split.words) == ids

    def encode(self, candidates: Sequence[Candidate]) -> list[list[int]]:
        """Unpadded ids for each candidate (assembled where verified, else from the tokenizer)."""
        out: list[list[int] | None] = [None] * len(candidates)
        fallback: list[int] = []
        if self.enabled:
            self._verify([split for split, _ in candidates])
            self._learn_pieces([w for split, words in candidates if self._verified[split] for w in words])
        for k, (split, words) in enumerate(candidates):
            if self.enabled and self._verified[split]:
                out[k] = self._assemble(split, words)
                self.assembled += out[k] is not None
            if out[k] is None:
                fallback.append(k)
        for k, ids in zip(fallback, self._ids([candidates[k][0].render(candidates[k][1]) for k in fallback])):
            out[k] = ids
        return out  # type: ignore[return-value]

    def pad(self, sequences: Sequence[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(s) for s in sequences)
        ids = np.full((len(sequences), width), self.pad_id if self.pad_id is not None else 0, dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}

    def forget(self) -> None:
        """Drop per-text verification (piece ids stay cached): call between attack batches."""
        self._verified.clear()
