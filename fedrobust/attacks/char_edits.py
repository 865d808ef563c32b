"""DeepWordBug's four character edits (Gao et al. 2018), one random position each, as in TextAttack.

Every edit leaves words of one character alone; the result is at most four distinct
misspellings of the word: neighbouring-character swap, substitution, deletion, insertion.
"""

from __future__ import annotations

import string

from fedrobust.attacks.randomness import IntegerSource

LETTERS = string.ascii_letters


def neighbour_swap(word: str, rng: IntegerSource) -> str | None:
    if len(word) <= 1:
        return None
    i = int(rng.integers(0, len(word) - 1))
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def substitution(word: str, rng: IntegerSource) -> str | None:
    if len(word) <= 1:
        return None
    i = int(rng.integers(0, len(word)))
    return word[:i] + LETTERS[int(rng.integers(0, len(LETTERS)))] + word[i + 1 :]


def deletion(word: str, rng: IntegerSource) -> str | None:
    if len(word) <= 1:
        return None
    i = int(rng.integers(0, len(word)))
    return word[:i] + word[i + 1 :]


def insertion(word: str, rng: IntegerSource) -> str | None:
    if len(word) <= 1:
        return None
    i = int(rng.integers(0, len(word)))
    return word[:i] + LETTERS[int(rng.integers(0, len(LETTERS)))] + word[i:]


EDITS = (neighbour_swap, substitution, deletion, insertion)


def deepwordbug_candidates(word: str, rng: IntegerSource) -> list[str]:
    """One random misspelling per edit kind, without duplicates or the word itself."""
    out: list[str] = []
    for edit in EDITS:
        candidate = edit(word, rng)
        if candidate is not None and candidate != word and candidate not in out:
            out.append(candidate)
    return out
