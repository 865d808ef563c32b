"""greedy_wir: TextAttack's ``GreedyWordSwapWIR`` (greedy word swap with word-importance ranking),
run in lockstep on many examples.

Every example's leave-one-out texts are scored in one pass and its modifiable words ranked by how
much removing them (replacing them with [UNK], deleting them, or PWWS's probability weighted word
saliency) lowers p(label); then at each step every still-searching example proposes the swaps of
its next most important word, all of them are scored together, and the best swap is kept when it
raises the example's score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedrobust.attacks.piecewise_tokens import SwapGroup
from fedrobust.attacks.records import FAILED, SUCCESSFUL
from fedrobust.attacks.scoring import softmax
from fedrobust.attacks.search import (
    SCORE_TOLERANCE,
    SEARCH_METHODS,
    ExampleSearch,
    SearchMethod,
    SearchParts,
    SearchSettings,
    advance_until_done,
    ranked,
)
from fedrobust.errors import ConfigError

RANKINGS = ("unk", "delete", "weighted_saliency")


@dataclass
class _Walk:
    """One example's way through its words: the ranked indices and how far it has got."""

    example: ExampleSearch
    order: list[int] = field(default_factory=list)
    cursor: int = 0


@dataclass
class _Proposal:
    walk: _Walk
    index: int
    words: list[str]  # the replacement word of each candidate

    def swaps(self) -> SwapGroup:
        example = self.walk.example
        return example.split, example.words, [(self.index, word) for word in self.words]


@SEARCH_METHODS.register("greedy_wir")
class GreedyWordImportanceSearch(SearchMethod):
    remembers_texts = True

    def __init__(self, settings: SearchSettings) -> None:
        if settings.ranking not in RANKINGS:
            raise ConfigError(f"unknown word ranking {settings.ranking!r}; choose one of {', '.join(RANKINGS)}")
        super().__init__(settings)

    def search(self, examples: list[ExampleSearch], parts: SearchParts) -> None:
        walks = [_Walk(example) for example in examples]
        self._rank_words(walks, parts)
        advance_until_done(walks, lambda active: self._step(active, parts))

    def _rank_words(self, walks: list[_Walk], parts: SearchParts) -> None:
        """Order each example's modifiable words by importance (TextAttack's WIR)."""
        ranking = self.settings.ranking
        replacement = "" if ranking == "delete" else self.settings.unk_token
        modifiable = [parts.modifiable(w.example.words) for w in walks]
        allowed = [indices[: w.example.budget_left()] for w, indices in zip(walks, modifiable)]
        groups: list[SwapGroup] = [
            (w.example.split, w.example.words, [(i, replacement) for i in indices]) for w, indices in zip(walks, allowed)
        ]
        scores = _scores(parts, groups, [w.example.label for w in walks])
        for w, indices, every, index_scores in zip(walks, allowed, modifiable, scores):
            w.example.queries += len(indices)
            if len(indices) < len(every) or w.example.budget_left() == 0:
                w.example.status = FAILED  # budget spent while ranking: TextAttack ends the search here
                continue
            w.order = indices
            if ranking != "weighted_saliency":
                w.order = [indices[k] for k in ranked(index_scores)]
        if ranking == "weighted_saliency":
            self._weight_by_best_swap([(w, sc) for w, sc in zip(walks, scores) if w.example.searching], parts)

    def _weight_by_best_swap(self, saliencies: list[tuple[_Walk, np.ndarray]], parts: SearchParts) -> None:
        """PWWS: saliency softmax times the best swap's score at each word."""
        proposals: list[_Proposal] = []
        for w, _ in saliencies:
            budget = w.example.budget_left()
            for i in w.order:
                proposal = _Proposal(w, i, parts.swaps_at(w.example, i)[:budget])
                budget -= len(proposal.words)
                proposals.append(proposal)
        scores = _scores(parts, [p.swaps() for p in proposals], [p.walk.example.label for p in proposals])
        best_swap: dict[tuple[int, int], float] = {}
        for p, sc in zip(proposals, scores):
            p.walk.example.queries += len(p.words)
            best_swap[(id(p.walk), p.index)] = float(sc.max()) if len(sc) else 0.0
        for w, saliency in saliencies:
            if w.order:  # a text of stop words only has nothing to weight (its search fails next step)
                weights = softmax(saliency) * np.array([best_swap.get((id(w), i), 0.0) for i in w.order])
                w.order = [w.order[k] for k in ranked(weights)]
            if w.example.budget_left() == 0:
                w.example.status = FAILED

    def _step(self, active: list[_Walk], parts: SearchParts) -> None:
        proposals = []
        for w in active:
            proposal = _next_proposal(w, parts)
            if proposal is None:
                w.example.status = FAILED
                continue
            proposal.words = proposal.words[: w.example.budget_left()]
            proposals.append(proposal)
        all_probs = parts.scorer.swap_probabilities([p.swaps() for p in proposals])
        for p, probs in zip(proposals, all_probs):
            example = p.walk.example
            example.queries += len(p.words)
            scores = 1.0 - probs[:, example.label]
            best = int(np.argmax(scores))
            if scores[best] > example.score + SCORE_TOLERANCE:
                example.words[p.index] = p.words[best]
                example.probs = probs[best]
                if example.prediction != example.label:
                    example.status = SUCCESSFUL
                    continue
            if example.budget_left() == 0 or p.walk.cursor >= len(p.walk.order):
                example.status = FAILED


def _next_proposal(walk: _Walk, parts: SearchParts) -> _Proposal | None:
    """The next ranked word that has swaps; None once the example's word budget is spent (the
    search then fails with the words changed so far, as TextAttack's MaxWordsPerturbed ends it)."""
    limit = walk.example.word_limit(parts.modifiable)
    if limit is not None and len(walk.example.changed()) >= limit:
        return None
    while walk.cursor < len(walk.order):
        index = walk.order[walk.cursor]
        walk.cursor += 1
        words = parts.swaps_at(walk.example, index)
        if words:
            return _Proposal(walk, index, words)
    return None


def _scores(parts: SearchParts, groups: list[SwapGroup], labels: list[int]) -> list[np.ndarray]:
    """1 - p(label) of every swap of every group."""
    return [1.0 - p[:, y] for p, y in zip(parts.scorer.swap_probabilities(groups), labels)]
