"""The parts of a word-swap recipe other than its search: which words may change, what they may
change into (the transformation) and which changes are allowed (the constraints).

As in TextAttack, a recipe is goal + constraints + transformation + search method; the goal here
is always untargeted classification (score = 1 - p(true label)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from fedrobust.attacks.budgets import word_limit
from fedrobust.attacks.randomness import IntegerSource
from fedrobust.attacks.words import SplitText

Swap = tuple[int, str]  # (word index, new word)


class WordCandidates(Protocol):
    """Replacement words for one word (the transformation of a TextAttack recipe)."""

    def __call__(self, word: str, rng: IntegerSource) -> list[str]: ...


# (original text, current words, index, new words for words[index]) -> the new words allowed
TextConstraint = Callable[[SplitText, Sequence[str], int, list[str]], list[str]]


@dataclass(frozen=True)
class SwapRequest:
    """Swaps wanted for one text: its current ``words``, the ``indices`` that may change, the label
    to move away from and the example's random stream."""

    split: SplitText
    words: Sequence[str]
    indices: Sequence[int]
    label: int
    rng: IntegerSource


class Transformation(Protocol):
    """Proposes swaps for many texts at once (batched, so a model-guided one can share passes)."""

    def __call__(self, requests: Sequence[SwapRequest]) -> list[list[Swap]]: ...


class CandidatesPerWord:
    """A transformation from per-word candidates: each index's candidates in order, duplicates and
    the current word dropped."""

    def __init__(self, candidates: WordCandidates) -> None:
        self.candidates = candidates

    def __call__(self, requests: Sequence[SwapRequest]) -> list[list[Swap]]:
        out = []
        for request in requests:
            swaps: list[Swap] = []
            for index in request.indices:
                current = request.words[index]
                swaps += [(index, w) for w in dict.fromkeys(self.candidates(current, request.rng)) if w != current]
            out.append(swaps)
        return out


@dataclass(frozen=True)
class ModifiableWords:
    """Pre-transformation constraints: stop words (as TextAttack's StopwordModification), words
    already changed (RepeatModification) and the word budget (MaxWordsPerturbed): at most
    ``limit(n_words)`` changed words, from ``max_words`` and ``max_word_fraction`` (see budgets)."""

    stopwords: frozenset[str]
    max_words: int | None = None
    max_word_fraction: float | None = None

    def limit(self, n_words: int) -> int | None:
        """The most words a text of ``n_words`` words may have changed; None: no limit."""
        return word_limit(n_words, self.max_words, self.max_word_fraction)

    def __call__(self, words: Sequence[str], modified: frozenset[int] = frozenset()) -> list[int]:
        """Indices of ``words`` that may change next. A swap replaces one word by one word, so
        ``len(words)`` is the original text's word count that the budget is a fraction of."""
        limit = self.limit(len(words))
        if limit is not None and len(modified) >= limit:
            return []
        return [i for i, w in enumerate(words) if i not in modified and w not in self.stopwords]


@dataclass(frozen=True)
class SwapProposer:
    """Transformation then constraints: the swaps a search may score."""

    transformation: Transformation
    constraints: Sequence[TextConstraint] = ()

    def __call__(self, requests: Sequence[SwapRequest]) -> list[list[Swap]]:
        proposed = self.transformation(requests)
        if not self.constraints:
            return proposed
        return [self._allowed(request, swaps) for request, swaps in zip(requests, proposed)]

    def _allowed(self, request: SwapRequest, swaps: list[Swap]) -> list[Swap]:
        by_index: dict[int, list[str]] = {}
        for index, word in swaps:
            by_index.setdefault(index, []).append(word)
        kept: set[Swap] = set()
        for index, words in by_index.items():
            for allowed in self.constraints:
                if words:
                    words = allowed(request.split, request.words, index, words)
            kept.update((index, w) for w in words)
        return [swap for swap in swaps if swap in kept]
