"""One model's token attributions saved by text, so that a large model (the teacher) explains each
text once and many small computations (one per device) compare against them.

An entry is keyed by the text and the class it explains; it keeps the token ids the attributions
are over, so a reader on other tokens is refused instead of misaligned. The cache records the
attribution method (fedrobust.evaluation.attributions); a reader asking for another method is
refused (``lookup``) and ``covers`` answers False, so a writer computes it again. The file is one
``.npz`` (format, method, keys, offsets, ids, scores; no pickled objects); a file from before the
method was recorded holds gradient x input.

    cache = AttributionCache.of(teacher, tokenizer, texts, labels, method="integrated_gradients")
    cache.save(path)
    AttributionCache.load(path).lookup(texts, labels, method="integrated_gradients")   # in the order asked
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from fedrobust.errors import DataError
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, TokenAttributions, attribute
from fedrobust.models.base import TextClassifier

FORMAT = 1


def entry_key(text: str, target: int) -> str:
    return hashlib.sha256(f"{int(target)}\t{text}".encode()).hexdigest()[:32]


@dataclass
class AttributionCache:
    """Attributions by ``entry_key(text, target)``: (token ids, scores), all by one ``method``."""

    entries: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    method: str = DEFAULT_ATTRIBUTION

    @classmethod
    def of(cls, model: TextClassifier, tokenizer: Any, texts: Sequence[str], targets: Sequence[int],
           method: str = DEFAULT_ATTRIBUTION) -> "AttributionCache":
        """Attributions of ``model`` by ``method`` for each distinct (text, target), computed once each."""
        distinct = list(dict.fromkeys((text, int(target)) for text, target in zip(texts, targets)))
        attr = attribute(model, tokenizer, [t for t, _ in distinct], [y for _, y in distinct], method=method)
        return cls({entry_key(t, y): (np.asarray(ids, dtype=np.int64), scores.numpy().astype(np.float32))
                    for (t, y), ids, scores in zip(distinct, attr.input_ids, attr.scores)}, method=method)

    def covers(self, texts: Sequence[str], targets: Sequence[int], method: str = DEFAULT_ATTRIBUTION) -> bool:
        """Whether it holds every (text, target) by ``method``."""
        return method == self.method and all(entry_key(t, y) in self.entries for t, y in zip(texts, targets))

    def missing(self, texts: Sequence[str], targets: Sequence[int]) -> tuple[list[str], list[int]]:
        """The distinct (text, target) pairs it has no entry for, in first-seen order."""
        pairs = dict.fromkeys((text, int(target)) for text, target in zip(texts, targets)
                              if entry_key(text, target) not in self.entries)
        return [t for t, _ in pairs], [y for _, y in pairs]

    def extended(self, model: TextClassifier, tokenizer: Any, texts: Sequence[str], targets: Sequence[int]
                 ) -> "AttributionCache":
        """This cache plus ``model``'s attributions of the pairs it lacks, by its own method."""
        todo_texts, todo_targets = self.missing(texts, targets)
        if not todo_texts:
            return self
        new = AttributionCache.of(model, tokenizer, todo_texts, todo_targets, method=self.method)
        return AttributionCache({**self.entries, **new.entries}, method=self.method)

    def subset(self, texts: Sequence[str], targets: Sequence[int]) -> "AttributionCache":
        """Only the entries of these pairs (each must be present)."""
        keys = [entry_key(t, y) for t, y in zip(texts, targets)]
        return AttributionCache({k: self.entries[k] for k in keys}, method=self.method)

    def lookup(self, texts: Sequence[str], targets: Sequence[int], where: str = "the attribution cache",
               method: str = DEFAULT_ATTRIBUTION) -> TokenAttributions:
        if method != self.method:
            raise DataError(f"{where}: its attributions are by {self.method}, but {method} was asked for (the "
                            "attribution setting changed; delete it to have it computed again)")
        missing = sum(entry_key(t, y) not in self.entries for t, y in zip(texts, targets))
        if missing:
            raise DataError(f"{where}: no attributions for {missing} of {len(texts)} texts; it was written for "
                            "other texts (delete it to have it computed again)")
        found = [self.entries[entry_key(t, y)] for t, y in zip(texts, targets)]
        return TokenAttributions(input_ids=[ids.tolist() for ids, _ in found],
                                 scores=[torch.from_numpy(scores) for _, scores in found],
                                 targets=[int(y) for y in targets], method=self.method)

    def save(self, path: Path) -> None:
        """Written to a hidden sibling and renamed: a reader never sees half a file."""
        keys = list(self.entries)
        lengths = [len(self.entries[k][0]) for k in keys]
        empty = np.zeros(0)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")  # two writers of one shared file
        np.savez(tmp, format=np.array(FORMAT), method=np.array(self.method), keys=np.array(keys, dtype="U32"),
                 offsets=np.cumsum([0, *lengths]).astype(np.int64),
                 ids=np.concatenate([self.entries[k][0] for k in keys]) if keys else empty.astype(np.int64),
                 scores=np.concatenate([self.entries[k][1] for k in keys]) if keys else empty.astype(np.float32))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "AttributionCache":
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"]) != FORMAT:
                    raise DataError(f"{path}: attribution cache format {int(data['format'])}, expected {FORMAT}; "
                                    "delete it to have it computed again")
                keys, offsets, ids, scores = data["keys"], data["offsets"], data["ids"], data["scores"]
                # files from before the method was recorded hold gradient x input
                method = str(data["method"]) if "method" in data.files else DEFAULT_ATTRIBUTION
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"{path}: not a readable attribution cache ({type(exc).__name__}); delete it to have it "
                            "computed again") from None
        return cls({str(k): (ids[a:b], scores[a:b]) for k, a, b in zip(keys, offsets[:-1], offsets[1:])},
                   method=method)
