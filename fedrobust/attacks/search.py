"""The search-method slot of the fast word-swap attacks, and the bookkeeping every search shares.

A search method advances many examples in lockstep: each step, every still-searching example asks
for its swaps, all of them are scored together, and each example keeps what its method decides.
``ExampleSearch`` is one example's shared state (current words and probabilities, queries, query
budget, result); a method keeps its own per-example state (ranking, beam) beside it. Query
counting and the budget follow TextAttack, so results are comparable with its recipes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from fedrobust.attacks.randomness import IntegerSource
from fedrobust.attacks.records import FAILED, SKIPPED, AttackRecord
from fedrobust.attacks.scoring import BatchScorer
from fedrobust.attacks.word_swaps import ModifiableWords, SwapProposer, SwapRequest
from fedrobust.attacks.words import SplitText, perturbed_fraction
from fedrobust.registry import Registry

SEARCHING = "searching"
# Scores closer than this are equal: the same token ids scored in different batches (or by the
# state-reuse path) differ in the last float bits, and that must not decide a search.
SCORE_TOLERANCE = 1e-6


@dataclass
class ExampleSearch:
    """One example under attack: the words and probabilities it has reached so far."""

    text: str
    split: SplitText
    label: int
    words: list[str]
    probs: np.ndarray
    clean_pred: int
    rng: IntegerSource
    max_queries: int | None
    queries: int = 1  # the clean prediction
    status: str = SEARCHING

    @classmethod
    def start(cls, text: str, label: int, probs: np.ndarray, rng: IntegerSource, max_queries: int | None) -> "ExampleSearch":
        """Skipped when the clean prediction is already wrong, failed when no query is left."""
        split = SplitText.from_text(text)
        example = cls(text, split, label, list(split.words), probs, int(probs.argmax()), rng, max_queries)
        if example.prediction != label:
            example.status = SKIPPED
        elif example.budget_left() == 0:
            example.status = FAILED
        return example

    @property
    def searching(self) -> bool:
        return self.status == SEARCHING

    @property
    def score(self) -> float:
        return float(1.0 - self.probs[self.label])

    @property
    def prediction(self) -> int:
        return int(self.probs.argmax())

    def budget_left(self) -> int:
        return 1 << 62 if self.max_queries is None else max(self.max_queries - self.queries, 0)

    def word_limit(self, modifiable: ModifiableWords) -> int | None:
        """The most words this example may have changed (its budget from the original's length)."""
        return modifiable.limit(len(self.split.words))

    def changed(self) -> frozenset[int]:
        """Indices of the words changed so far."""
        return frozenset(i for i, (old, new) in enumerate(zip(self.split.words, self.words)) if old != new)

    def request(self, words: Sequence[str], indices: Sequence[int]) -> SwapRequest:
        return SwapRequest(self.split, words, indices, self.label, self.rng)

    def record(self) -> AttackRecord:
        return AttackRecord(
            text=self.text,
            label=self.label,
            clean_pred=self.clean_pred,
            adv_pred=self.prediction,
            result=self.status,
            queries=self.queries,
            perturbed_fraction=perturbed_fraction(self.split.words, self.words),
            perturbed_text=self.split.render(self.words),
            words_changed=len(self.changed()),
            words_total=len(self.split.words),
        )


@dataclass(frozen=True)
class SearchParts:
    """What a search works with: the batched scorer, the recipe's swaps and its modifiable words."""

    scorer: BatchScorer
    propose: SwapProposer
    modifiable: ModifiableWords

    def swaps_at(self, example: ExampleSearch, index: int) -> list[str]:
        """The allowed new words for ``example.words[index]``."""
        (swaps,) = self.propose([example.request(example.words, [index])])
        return [word for _, word in swaps]


@dataclass(frozen=True)
class SearchSettings:
    """Every search method's settings; each reads its own."""

    ranking: str = "unk"  # greedy_wir: word importance by "unk", "delete" or "weighted_saliency" (PWWS)
    unk_token: str = "[UNK]"  # greedy_wir: what replaces a word to rank it
    beam_width: int = 10  # beam: texts kept after each step


class SearchMethod(ABC):
    """Advances every example until none is searching, updating its words, probabilities, queries
    and status. ``remembers_texts``: it scores swaps of the texts (``scorer.swap_probabilities``),
    so the scorer keeps the texts' ids and the model's reuse states from the start."""

    remembers_texts: bool = False

    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings

    @abstractmethod
    def search(self, examples: list[ExampleSearch], parts: SearchParts) -> None: ...


SEARCH_METHODS: Registry[type[SearchMethod]] = Registry("search method")


def advance_until_done(states: Sequence[Any], step: Callable[[list[Any]], None]) -> None:
    """Call ``step`` on the search states (each holding an ``example``) whose example is still
    searching, until none is: the lockstep loop every search method runs."""
    while True:
        active = [state for state in states if state.example.searching]
        if not active:
            return
        step(active)


def build_search(name: str, settings: SearchSettings) -> SearchMethod:
    return SEARCH_METHODS.get(name)(settings)


def ranked(scores: np.ndarray) -> np.ndarray:
    """Positions by decreasing score, ties (within float noise) in their original order."""
    return np.argsort(-np.round(scores / SCORE_TOLERANCE), kind="stable")

