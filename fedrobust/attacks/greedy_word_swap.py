"""Greedy word swap with word-importance ranking, batched over many examples at once.

The search is TextAttack's ``GreedyWordSwapWIR`` run in lockstep on a whole batch: every
example's leave-one-out texts are scored in one pass, then at each step every still-searching
example proposes the candidates for its next most important word and all of them are scored
together. Goal (untargeted classification, score = 1 - p(true label)), query counting and the
query budget follow TextAttack, so results are comparable with its recipes.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from fedrobust.attacks.base import Attack, check_inputs
from fedrobust.attacks.records import FAILED, SKIPPED, SUCCESSFUL, AttackRecord
from fedrobust.attacks.scoring import BatchScorer, softmax
from fedrobust.attacks.words import SplitText, english_stopwords, perturbed_fraction
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier

RANKINGS = ("unk", "delete", "weighted_saliency")


class WordCandidates(Protocol):
    """Replacement words for one word (the transformation of a TextAttack recipe)."""

    def __call__(self, word: str, rng: np.random.Generator) -> list[str]: ...


TextConstraint = Callable[[str, str], bool]  # (original text, candidate text) -> allowed


@dataclass
class _Search:
    split: SplitText
    label: int
    words: list[str]
    probs: np.ndarray
    queries: int = 1
    status: str = "searching"
    order: list[int] = field(default_factory=list)
    cursor: int = 0

    @property
    def score(self) -> float:
        return float(1.0 - self.probs[self.label])

    @property
    def prediction(self) -> int:
        return int(self.probs.argmax())


@dataclass
class _Proposal:
    search: _Search
    index: int
    words: list[str]  # the replacement word of each candidate

    def truncate(self, budget: int) -> None:
        self.words = self.words[:budget]

    def candidates(self) -> list[tuple[SplitText, list[str]]]:
        base, i = self.search.words, self.index
        return [(self.search.split, base[:i] + [word] + base[i + 1 :]) for word in self.words]


class BatchedGreedyWordSwap:
    """Runs the greedy search for many examples; ``candidates`` and constraints define the attack."""

    def __init__(
        self,
        scorer: BatchScorer,
        candidates: WordCandidates,
        *,
        can_modify: Callable[[str], bool],
        ranking: str = "unk",
        unk_token: str = "[UNK]",
        text_constraints: Sequence[TextConstraint] = (),
        max_queries: int | None = None,
        seed: int = 0,
        examples_per_batch: int = 512,
    ) -> None:
        if ranking not in RANKINGS:
            raise ConfigError(f"unknown word ranking {ranking!r}; choose one of {', '.join(RANKINGS)}")
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"max_queries must be at least 1 (the clean prediction), got {max_queries}")
        self.scorer = scorer
        self.candidates = candidates
        self.can_modify = can_modify
        self.ranking = ranking
        self.unk_token = unk_token
        self.text_constraints = list(text_constraints)
        self.max_queries = max_queries
        self.seed = seed
        self.examples_per_batch = examples_per_batch

    def run(self, texts: Sequence[str], labels: Sequence[int]) -> list[AttackRecord]:
        rng = np.random.default_rng(self.seed)
        records: list[AttackRecord] = []
        with _cyclic_gc_paused():
            for start in range(0, len(texts), self.examples_per_batch):
                stop = start + self.examples_per_batch
                records.extend(self._run_batch(list(texts[start:stop]), [int(y) for y in labels[start:stop]], rng))
        return records

    # -- the three phases -------------------------------------------------------------------

    def _run_batch(self, texts: list[str], labels: list[int], rng: np.random.Generator) -> list[AttackRecord]:
        probs = self.scorer.probabilities(texts)
        searches = []
        for text, label, p in zip(texts, labels, probs):
            split = SplitText.from_text(text)
            search = _Search(split=split, label=label, words=list(split.words), probs=p)
            if search.prediction != label:
                search.status = SKIPPED
            elif self._budget_left(search) == 0:
                search.status = FAILED
            searches.append(search)
        clean_preds = [s.prediction for s in searches]
        self.scorer.encoder.forget()
        self._rank_words([s for s in searches if s.status == "searching"], rng)
        while True:
            active = [s for s in searches if s.status == "searching"]
            if not active:
                break
            self._greedy_step(active, rng)
        return [self._record(text, s, pred) for text, s, pred in zip(texts, searches, clean_preds)]

    def _rank_words(self, searches: list[_Search], rng: np.random.Generator) -> None:
        """Order each example's modifiable words by importance (TextAttack's WIR)."""
        indices = {id(s): [i for i, w in enumerate(s.words) if self.can_modify(w)] for s in searches}
        replacement = "" if self.ranking == "delete" else self.unk_token
        leave_one_out: list[tuple[_Search, list[int], list[tuple[SplitText, list[str]]]]] = []
        for s in searches:
            allowed = indices[id(s)][: self._budget_left(s)]
            leave_one_out.append((s, allowed, [(s.split, _replaced(s.words, i, replacement)) for i in allowed]))
        scores = self._score_groups([group for _, _, group in leave_one_out], [s.label for s in searches])
        for (s, allowed, _), index_scores in zip(leave_one_out, scores):
            s.queries += len(allowed)
            if len(allowed) < len(indices[id(s)]) or self._budget_left(s) == 0:
                s.status = FAILED  # budget spent while ranking: TextAttack ends the search here
                continue
            s.order = allowed
            if self.ranking != "weighted_saliency":
                s.order = [allowed[k] for k in np.argsort(-index_scores, kind="stable")]
        if self.ranking == "weighted_saliency":
            ranked = [(s, sc) for (s, _, _), sc in zip(leave_one_out, scores) if s.status == "searching"]
            self._weight_by_best_swap(ranked, rng)

    def _weight_by_best_swap(self, ranked: list[tuple[_Search, np.ndarray]], rng: np.random.Generator) -> None:
        """PWWS: saliency softmax times the best swap's score at each word."""
        proposals: list[_Proposal] = []
        for s, _ in ranked:
            budget = self._budget_left(s)
            for i in s.order:
                proposal = self._propose(s, i, rng)
                proposal.truncate(budget)
                budget -= len(proposal.words)
                proposals.append(proposal)
        scores = self._score_groups([p.candidates() for p in proposals], [p.search.label for p in proposals])
        best_swap: dict[tuple[int, int], float] = {}
        for p, sc in zip(proposals, scores):
            p.search.queries += len(p.words)
            best_swap[(id(p.search), p.index)] = float(sc.max()) if len(sc) else 0.0
        for s, saliency in ranked:
            weights = softmax(saliency) * np.array([best_swap.get((id(s), i), 0.0) for i in s.order])
            s.order = [s.order[k] for k in np.argsort(-weights, kind="stable")]
            if self._budget_left(s) == 0:
                s.status = FAILED

    def _greedy_step(self, active: list[_Search], rng: np.random.Generator) -> None:
        proposals = []
        for s in active:
            proposal = self._next_proposal(s, rng)
            if proposal is None:
                s.status = FAILED
                continue
            proposal.truncate(self._budget_left(s))
            proposals.append(proposal)
        all_probs = self._probs_groups([p.candidates() for p in proposals])
        for p, probs in zip(proposals, all_probs):
            s = p.search
            s.queries += len(p.words)
            scores = 1.0 - probs[:, s.label]
            best = int(np.argmax(scores))
            if scores[best] > s.score:
                s.words[p.index] = p.words[best]
                s.probs = probs[best]
                if s.prediction != s.label:
                    s.status = SUCCESSFUL
                    continue
            if self._budget_left(s) == 0 or s.cursor >= len(s.order):
                s.status = FAILED

    # -- helpers ----------------------------------------------------------------------------

    def _next_proposal(self, s: _Search, rng: np.random.Generator) -> _Proposal | None:
        while s.cursor < len(s.order):
            index = s.order[s.cursor]
            s.cursor += 1
            proposal = self._propose(s, index, rng)
            if proposal.words:
                return proposal
        return None

    def _propose(self, s: _Search, index: int, rng: np.random.Generator) -> _Proposal:
        current = s.words[index]
        words = [w for w in dict.fromkeys(self.candidates(current, rng)) if w != current]  # dedupe, keep order
        if self.text_constraints and words:
            original_text = s.split.text
            allowed = []
            for word in words:
                text = s.split.render(s.words[:index] + [word] + s.words[index + 1 :])
                if all(ok(original_text, text) for ok in self.text_constraints):
                    allowed.append(word)
            words = allowed
        return _Proposal(search=s, index=index, words=words)

    def _budget_left(self, s: _Search) -> int:
        return 1 << 62 if self.max_queries is None else max(self.max_queries - s.queries, 0)

    def _probs_groups(self, groups: list[list[tuple[SplitText, list[str]]]]) -> list[np.ndarray]:
        flat = [c for g in groups for c in g]
        probs = self.scorer.candidate_probabilities(flat)
        bounds = np.cumsum([0] + [len(g) for g in groups])
        return [probs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def _score_groups(self, groups: list[list[tuple[SplitText, list[str]]]], labels: list[int]) -> list[np.ndarray]:
        return [1.0 - p[:, y] for p, y in zip(self._probs_groups(groups), labels)]

    @staticmethod
    def _record(text: str, s: _Search, clean_pred: int) -> AttackRecord:
        return AttackRecord(
            text=text,
            label=s.label,
            clean_pred=clean_pred,
            adv_pred=s.prediction,
            result=s.status,
            queries=s.queries,
            perturbed_fraction=perturbed_fraction(s.split.words, s.words),
            perturbed_text=s.split.render(s.words),
        )


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The search allocates millions of short lists; with WordNet loaded, every cyclic-GC pass
    walks its whole heap and took a third of the run. Nothing here builds reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _replaced(words: list[str], index: int, word: str) -> list[str]:
    out = list(words)
    out[index] = word
    return out


class GreedyWordSwapAttack(Attack):
    """A fast word-swap attack: subclasses pick the candidates, the ranking and text constraints.

    Stop words (NLTK's English list, as TextAttack's StopwordModification) are never modified.
    ``batch_size`` 64: on one CPU thread a transformer runs fastest per text in small batches,
    and small students gain nothing measurable from larger ones.
    """

    ranking = "unk"

    def __init__(
        self,
        model: TextClassifier,
        tokenizer: Any,
        *,
        max_queries: int | None = None,
        seed: int = 0,
        batch_size: int = 64,
        examples_per_batch: int = 512,
    ) -> None:
        stopwords = english_stopwords()
        self.scorer = BatchScorer(model, tokenizer, batch_size=batch_size)
        self.search = BatchedGreedyWordSwap(
            self.scorer,
            self.word_candidates(),
            can_modify=lambda word: word not in stopwords,
            ranking=self.ranking,
            text_constraints=self.text_constraints(),
            max_queries=max_queries,
            seed=seed,
            examples_per_batch=examples_per_batch,
        )

    def word_candidates(self) -> WordCandidates:
        raise NotImplementedError

    def text_constraints(self) -> list[TextConstraint]:
        return []

    def attack(self, texts: Sequence[str], labels: Sequence[int]) -> list[AttackRecord]:
        check_inputs(texts, labels)
        return self.search.run(texts, labels)
