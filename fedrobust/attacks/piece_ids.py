"""Token ids of many texts and short pieces of text, as fast as is exact.

A character-level attack makes thousands of new misspelled words, each tokenized on its own, and
tokenizes its original texts once more to check how they split. The project tokenizer wraps a
Hugging Face fast tokenizer (``tokenizer.hf``); this class works on private copies of its Rust
``backend_tokenizer`` (so the wrapper's padding and truncation settings are neither read nor
changed; encoding leaves a copy as it was, so attack shards in threads share them): no padding, truncation at the
tokenizer's ``max_length`` for whole texts and none for pieces. A plain ASCII word, which a BERT
pre-tokenizer leaves whole and no added token can match, goes straight to the copy's normalizer
and WordPiece model, faster again. Each shortcut is checked against the project tokenizer on its
first inputs and dropped for good if they disagree.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Callable

_PLAIN_WORD = re.compile(r"[A-Za-z0-9]+")
_CHECKED_INPUTS = 256  # how many of its first inputs each shortcut is checked on

Ids = Callable[[list[str]], list[list[int]]]  # texts -> unpadded ids, special tokens included


class FastTokenIds:
    """``texts(texts)`` and ``pieces(pieces)``: unpadded ids, special tokens included, equal to
    ``reference`` (the project tokenizer), except that pieces are never truncated: a piece whose
    ids reach ``max_length`` is the caller's to distrust."""

    def __init__(self, tokenizer: Any, reference: Ids, prefix: list[int], suffix: list[int]) -> None:
        self.reference = reference
        self.prefix, self.suffix = prefix, suffix
        self.max_length = getattr(tokenizer, "max_length", None)
        self._texts = self._pieces = None
        backend = getattr(getattr(tokenizer, "hf", None), "backend_tokenizer", None)
        if isinstance(self.max_length, int) and callable(getattr(backend, "to_str", None)):
            self._texts, self._pieces = _copies(backend, self.max_length)
        model = getattr(self._pieces, "model", None)
        normalizer = getattr(self._pieces, "normalizer", None)
        self.wordpiece = callable(getattr(model, "tokenize", None)) and callable(getattr(normalizer, "normalize_str", None))
        self._checked: set[str] = set()

    def texts(self, texts: list[str]) -> list[list[int]]:
        if not texts or self._texts is None:
            return self.reference(texts)
        return self._checked_ids("texts", texts, [e.ids for e in self._texts.encode_batch(texts)], exact=True)

    def pieces(self, pieces: list[str]) -> list[list[int]]:
        plain = [k for k, p in enumerate(pieces) if self.wordpiece and _PLAIN_WORD.fullmatch(p)]
        out: list[list[int] | None] = [None] * len(pieces)
        if plain:
            for k, ids in zip(plain, self._wordpiece_ids([pieces[k] for k in plain])):
                out[k] = ids
        rest = [k for k in range(len(pieces)) if out[k] is None]
        for k, ids in zip(rest, self._backend_piece_ids([pieces[k] for k in rest])):
            out[k] = ids
        return out  # type: ignore[return-value]

    def _backend_piece_ids(self, pieces: list[str]) -> list[list[int]]:
        if not pieces or self._pieces is None:
            return self.reference(pieces)
        return self._checked_ids("pieces", pieces, [e.ids for e in self._pieces.encode_batch(pieces)], exact=False)

    def _wordpiece_ids(self, words: list[str]) -> list[list[int]]:
        model, normalize = self._pieces.model, self._pieces.normalizer.normalize_str  # type: ignore[union-attr]
        fast = [self.prefix + [token.id for token in model.tokenize(normalize(w))] + self.suffix for w in words]
        if "wordpiece" not in self._checked:
            self._checked.add("wordpiece")
            reference = self._backend_piece_ids(words[:_CHECKED_INPUTS])
            if not all(_same_piece(a, b, self.max_length) for a, b in zip(fast, reference)):
                self.wordpiece = False
                return self._backend_piece_ids(words)
        return fast

    def _checked_ids(self, kind: str, inputs: list[str], fast: list[list[int]], exact: bool) -> list[list[int]]:
        """``fast``, after comparing the first call of each kind with the reference."""
        if kind in self._checked:
            return fast
        self._checked.add(kind)
        reference = self.reference(inputs[:_CHECKED_INPUTS])
        mine = fast[:_CHECKED_INPUTS]
        if mine == reference or (not exact and all(_same_piece(a, b, self.max_length) for a, b in zip(mine, reference))):
            return fast
        if kind == "texts":
            self._texts = None
        else:
            self._pieces, self.wordpiece = None, False
        return self.reference(inputs)


def _copies(backend: Any, max_length: int) -> tuple[Any, Any]:
    """(for texts, for pieces): made once per backend and length, then shared by every encoder
    (encoding never changes a Rust tokenizer, so shards in threads may share them)."""
    key = (id(backend), max_length)
    with _COPIES_LOCK:
        if key not in _COPIES:
            from tokenizers import Tokenizer

            texts, pieces = Tokenizer.from_str(backend.to_str()), Tokenizer.from_str(backend.to_str())
            for copy in (texts, pieces):
                copy.no_padding()
                copy.no_truncation()
            texts.enable_truncation(max_length=max_length)
            _COPIES[key] = (backend, texts, pieces)  # the backend is kept so its id stays its own
        return _COPIES[key][1], _COPIES[key][2]


_COPIES: dict[tuple[int, int], tuple[Any, Any, Any]] = {}
_COPIES_LOCK = threading.Lock()


def _same_piece(mine: list[int], reference: list[int], max_length: int | None) -> bool:
    """Equal ids, or both too long to trust (the reference was cut at ``max_length``)."""
    if max_length is not None and len(reference) >= max_length:
        return len(mine) >= max_length
    return mine == reference
