"""Token ids of word-swapped texts assembled from cached per-piece ids instead of re-tokenizing.

Word-swap attacks score thousands of texts that differ from one original in a word or two.
With a tokenizer that splits at every boundary between a word and its surroundings (BERT's
WordPiece splits on whitespace and punctuation), the ids of ``seps[0] w[0] seps[1] ... `` are the
tokenizer's prefix, the concatenated ids of each piece, then its suffix, truncated to
``max_length``. This is checked per original text: when assembling its unmodified words does not
give exactly the tokenizer's ids (or the tokenizer has no ``max_length``/``pad_token_id``), that
text's candidates go through the tokenizer as usual.

A swap (one word of a text replaced) is the text's ids with one word's span cut out and the new
word's ids put in, so a whole group of swaps of one text costs one layout and a slice each.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from fedrobust.attacks.piece_ids import FastTokenIds
from fedrobust.attacks.words import SplitText

Candidate = tuple[SplitText, Sequence[str]]  # an original text and the words that replace its words
# an original text, its current words and (word index, new word) swaps: one candidate per swap
SwapGroup = tuple[SplitText, Sequence[str], Sequence[tuple[int, str]]]

_Layout = tuple[list[int], list[int], list[int]]  # content ids, start and end of each word's ids

# Attack shards run in threads and share one tokenizer, whose Rust state (padding, truncation)
# the wrapper may set on a call: one call at a time (the fast paths use private copies).
TOKENIZER_LOCK = threading.RLock()


@dataclass
class Splices:
    """One text's ids and its swaps: (ids, shared prefix, shared suffix) each, where the swap's
    first ``shared_prefix`` and last ``shared_suffix`` ids are the text's own."""

    base: list[int]
    swaps: list[tuple[list[int], int, int]]


class PiecewiseEncoder:
    """Encodes candidates to padded {"input_ids", "attention_mask"} batches, like the tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.max_length = getattr(tokenizer, "max_length", None)
        self.pad_id = getattr(tokenizer, "pad_token_id", None)
        self._pieces: dict[str, list[int] | None] = {}
        self._verified: dict[SplitText, bool] = {}
        self._text_ids: dict[str, list[int]] = {}
        self._layouts: dict[tuple[SplitText, tuple[str, ...]], _Layout | None] = {}
        self.assembled = 0  # candidates encoded without the tokenizer, for tests and benchmarks
        self.enabled = isinstance(self.max_length, int) and isinstance(self.pad_id, int) and self._learn_layout()

    def _ids(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        with TOKENIZER_LOCK:
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
        if probe[len(probe) - len(self.suffix) :] != self.suffix:
            return False
        self._fast = FastTokenIds(self.tokenizer, self._ids, self.prefix, self.suffix)
        return True

    def _learn_pieces(self, pieces: Sequence[str]) -> None:
        known = self._pieces
        missing = [p for p in dict.fromkeys(pieces) if p not in known]
        for start in range(0, len(missing), 1024):
            chunk = missing[start : start + 1024]
            for piece, ids in zip(chunk, self._fast.pieces(chunk)):
                content = ids[len(self.prefix) : len(ids) - len(self.suffix)]
                # a piece that may have been truncated cannot be trusted
                known[piece] = None if len(ids) >= self.max_length else content

    def _layout(self, split: SplitText, words: Sequence[str]) -> _Layout | None:
        """Untruncated content ids of the text with ``words``, and where each word's ids lie."""
        pieces = self._pieces
        content: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for sep, word in zip(split.seps, words):
            sep_ids, word_ids = pieces[sep], pieces[word]
            if sep_ids is None or word_ids is None:
                return None
            content += sep_ids
            starts.append(len(content))
            content += word_ids
            ends.append(len(content))
        last = pieces[split.seps[-1]]
        if last is None:
            return None
        content += last
        return content, starts, ends

    def _cached_layout(self, split: SplitText, words: Sequence[str]) -> _Layout | None:
        """``_layout``, remembered until ``forget``: a text stays the base of several search steps."""
        key = (split, tuple(words))
        if key not in self._layouts:
            self._layouts[key] = self._layout(split, words)
        return self._layouts[key]

    def _finish(self, content: list[int]) -> list[int]:
        return self.prefix + content[: self.max_length - len(self.prefix) - len(self.suffix)] + self.suffix

    def _assemble(self, split: SplitText, words: Sequence[str]) -> list[int] | None:
        layout = self._layout(split, words)
        return None if layout is None else self._finish(layout[0])

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """The tokenizer's unpadded ids of whole texts."""
        ids_of = self._fast.texts if self.enabled else self._ids
        return [ids for start in range(0, len(texts), 1024) for ids in ids_of(list(texts[start : start + 1024]))]

    def text_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Like ``tokenize``, remembered until ``forget`` (splices of these texts are checked against them)."""
        known = self._text_ids
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        known.update(zip(missing, self.tokenize(missing)))
        return [known[t] for t in texts]

    def _verify(self, splits: list[SplitText]) -> None:
        todo = [s for s in dict.fromkeys(splits) if s not in self._verified]
        if not todo:
            return
        self._learn_pieces([p for s in todo for p in s.seps + s.words])
        for split, ids in zip(todo, self.text_ids([s.text for s in todo])):
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

    def splice_swaps(self, groups: Sequence[SwapGroup]) -> list[Splices | None]:
        """Each group's swaps as splices of its text's ids, or None where the tokenizer must run."""
        if not self.enabled:
            return [None] * len(groups)
        self._verify([split for split, _, _ in groups])
        self._learn_pieces(
            [w for split, words, swaps in groups if self._verified[split] for w in itertools.chain(words, (w for _, w in swaps))]
        )
        pieces = self._pieces
        room = self.max_length - len(self.prefix) - len(self.suffix)
        head, tail = len(self.prefix), len(self.suffix)
        out: list[Splices | None] = []
        for split, words, swaps in groups:
            layout = self._cached_layout(split, words) if self._verified[split] else None
            if layout is None or any(pieces[word] is None for _, word in swaps):
                out.append(None)
                continue
            content, starts, ends = layout
            base = self._finish(content)
            spliced = []
            for index, word in swaps:
                start, end = starts[index], ends[index]
                new = content[:start] + pieces[word] + content[end:]  # type: ignore[operator]
                ids = self._finish(new)
                shared_prefix = head + min(start, room)
                # past the swap the ids match the text's only when neither was cut at max_length
                shared_suffix = len(base) - head - end if len(content) <= room and len(new) <= room else tail
                spliced.append((ids, shared_prefix, shared_suffix))
            out.append(Splices(base, spliced))
        return out

    def encode_swaps(self, groups: Sequence[SwapGroup], splices: Sequence[Splices | None] | None = None) -> list[list[int]]:
        """Unpadded ids of every swap of every group, flattened in order (``splices``: this
        encoder's ``splice_swaps(groups)`` when the caller already has them)."""
        out: list[list[int] | None] = []
        fallback: list[tuple[int, str]] = []  # (position in out, text)
        for (split, words, swaps), splices in zip(groups, self.splice_swaps(groups) if splices is None else splices):
            if splices is not None:
                out.extend(ids for ids, _, _ in splices.swaps)
                self.assembled += len(splices.swaps)
                continue
            for index, word in swaps:
                fallback.append((len(out), split.render(_replaced(words, index, word))))
                out.append(None)
        for (k, _), ids in zip(fallback, self._ids([text for _, text in fallback])):
            out[k] = ids
        return out  # type: ignore[return-value]

    def pad(self, sequences: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        mask = np.arange(int(lengths.max())) < lengths[:, None]
        ids = np.full(mask.shape, self.pad_id if self.pad_id is not None else 0, dtype=np.int64)
        ids[mask] = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum()))
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask.astype(np.int64))}

    def forget(self) -> None:
        """Drop per-text ids and verification (piece ids stay cached): call between attack batches."""
        self._verified.clear()
        self._text_ids.clear()
        self._layouts.clear()


def _replaced(words: Sequence[str], index: int, word: str) -> list[str]:
    out = list(words)
    out[index] = word
    return out
