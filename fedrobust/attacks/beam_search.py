"""beam: TextAttack's ``BeamSearch``, run in lockstep on many examples.

Each step, every text in an example's beam asks for its swaps (words not yet changed, within the
example's word budget: every beam text of step k has k words changed, so a budget of k words ends
the search after step k), all of them are scored together as whole texts, and the ``beam_width``
best (highest 1 - p(label)) become the next beam. The best of a step is the example's result so far,
even when it scores below the last step's (as in TextAttack); the search ends on success, when
the query budget is spent or when no swap is left. HotFlip's recipe uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedrobust.attacks.records import FAILED, SUCCESSFUL
from fedrobust.attacks.search import (
    SEARCH_METHODS,
    ExampleSearch,
    SearchMethod,
    SearchParts,
    SearchSettings,
    advance_until_done,
)
from fedrobust.errors import ConfigError


@dataclass
class _Beam:
    words: list[str]
    modified: frozenset[int]
    probs: np.ndarray


@dataclass
class _Frontier:
    example: ExampleSearch
    beam: list[_Beam]


@SEARCH_METHODS.register("beam")
class BeamSearch(SearchMethod):
    def __init__(self, settings: SearchSettings) -> None:
        if settings.beam_width < 1:
            raise ConfigError(f"beam_width must be at least 1, got {settings.beam_width}")
        super().__init__(settings)

    def search(self, examples: list[ExampleSearch], parts: SearchParts) -> None:
        frontiers = [_Frontier(e, [_Beam(list(e.words), frozenset(), e.probs)]) for e in examples]
        advance_until_done(frontiers, lambda active: self._step(active, parts))

    def _step(self, active: list[_Frontier], parts: SearchParts) -> None:
        pairs = [(f, b) for f in active for b in f.beam]
        proposals = parts.propose([f.example.request(b.words, parts.modifiable(b.words, b.modified)) for f, b in pairs])
        candidates: dict[int, list[_Beam]] = {id(f): [] for f in active}
        for (frontier, beam), swaps in zip(pairs, proposals):
            for index, word in swaps:
                words = list(beam.words)
                words[index] = word
                candidates[id(frontier)].append(_Beam(words, beam.modified | {index}, beam.probs))
        scored: list[_Beam] = []
        texts: list[str] = []
        for f in active:
            options = candidates[id(f)][: f.example.budget_left()]
            candidates[id(f)] = options
            if not options:
                f.example.status = FAILED  # nothing left to swap: the last step's best stands
            scored.extend(options)
            texts.extend(f.example.split.render(b.words) for b in options)
        for beam, probs in zip(scored, parts.scorer.probabilities(texts)):
            beam.probs = probs
        for f in active:
            options = candidates[id(f)]
            if not options:
                continue
            example = f.example
            example.queries += len(options)
            options.sort(key=lambda b: b.probs[example.label])  # highest 1 - p(label) first
            example.words, example.probs = list(options[0].words), options[0].probs
            if example.prediction != example.label:
                example.status = SUCCESSFUL
            elif example.budget_left() == 0:
                example.status = FAILED
            else:
                f.beam = options[: self.settings.beam_width]
