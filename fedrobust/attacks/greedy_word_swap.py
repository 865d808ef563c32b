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
import torch

from fedrobust.attacks.base import Attack, check_inputs
from fedrobust.attacks.piecewise_tokens import SwapGroup
from fedrobust.attacks.randomness import ExampleRandom, IntegerSource
from fedrobust.attacks.records import FAILED, SKIPPED, SUCCESSFUL, AttackRecord
from fedrobust.attacks.scoring import BatchScorer, eval_mode, softmax
from fedrobust.attacks.sharding import run_sharded, shard_count
from fedrobust.attacks.words import SplitText, english_stopwords, perturbed_fraction
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier

RANKINGS = ("unk", "delete", "weighted_saliency")
# Scores closer than this are equal: the same token ids scored in different batches (or by the
# state-reuse path) differ in the last float bits, and that must not decide a search.
SCORE_TOLERANCE = 1e-6


class WordCandidates(Protocol):
    """Replacement words for one word (the transformation of a TextAttack recipe)."""

    def __call__(self, word: str, rng: IntegerSource) -> list[str]: ...


# (original text, current words, index, new words for words[index]) -> the new words allowed
TextConstraint = Callable[[SplitText, Sequence[str], int, list[str]], list[str]]


@dataclass
class _Search:
    split: SplitText
    label: int
    words: list[str]
    probs: np.ndarray
    rng: IntegerSource
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

    def swaps(self) -> SwapGroup:
        return self.search.split, self.search.words, [(self.index, word) for word in self.words]


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
        examples_per_batch: int = 2048,
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

    def run(self, texts: Sequence[str], labels: Sequence[int], first_index: int = 0) -> list[AttackRecord]:
        """Records in input order; ``first_index``: the position of ``texts[0]`` in the caller's
        whole list, which picks each example's random stream."""
        records: list[AttackRecord] = []
        with _cyclic_gc_paused():
            for start in range(0, len(texts), self.examples_per_batch):
                stop = start + self.examples_per_batch
                records.extend(
                    self._run_batch(list(texts[start:stop]), [int(y) for y in labels[start:stop]], first_index + start)
                )
        return records

    # -- the three phases -------------------------------------------------------------------

    def _run_batch(self, texts: list[str], labels: list[int], first_index: int) -> list[AttackRecord]:
        self.scorer.forget()
        probs = self.scorer.probabilities(texts, remember=True)
        searches = []
        for k, (text, label, p) in enumerate(zip(texts, labels, probs)):
            split = SplitText.from_text(text)
            rng = ExampleRandom(self.seed, first_index + k)
            search = _Search(split=split, label=label, words=list(split.words), probs=p, rng=rng)
            if search.prediction != label:
                search.status = SKIPPED
            elif self._budget_left(search) == 0:
                search.status = FAILED
            searches.append(search)
        clean_preds = [s.prediction for s in searches]
        try:
            self._rank_words([s for s in searches if s.status == "searching"])
            while True:
                active = [s for s in searches if s.status == "searching"]
                if not active:
                    break
                self._greedy_step(active)
        finally:
            self.scorer.forget()  # the model may change before the next call (adversarial training)
        return [self._record(text, s, pred) for text, s, pred in zip(texts, searches, clean_preds)]

    def _rank_words(self, searches: list[_Search]) -> None:
        """Order each example's modifiable words by importance (TextAttack's WIR)."""
        indices = {id(s): [i for i, w in enumerate(s.words) if self.can_modify(w)] for s in searches}
        replacement = "" if self.ranking == "delete" else self.unk_token
        leave_one_out: list[tuple[_Search, list[int], SwapGroup]] = []
        for s in searches:
            allowed = indices[id(s)][: self._budget_left(s)]
            leave_one_out.append((s, allowed, (s.split, s.words, [(i, replacement) for i in allowed])))
        scores = self._score_groups([group for _, _, group in leave_one_out], [s.label for s in searches])
        for (s, allowed, _), index_scores in zip(leave_one_out, scores):
            s.queries += len(allowed)
            if len(allowed) < len(indices[id(s)]) or self._budget_left(s) == 0:
                s.status = FAILED  # budget spent while ranking: TextAttack ends the search here
                continue
            s.order = allowed
            if self.ranking != "weighted_saliency":
                s.order = [allowed[k] for k in _ranked(index_scores)]
        if self.ranking == "weighted_saliency":
            ranked = [(s, sc) for (s, _, _), sc in zip(leave_one_out, scores) if s.status == "searching"]
            self._weight_by_best_swap(ranked)

    def _weight_by_best_swap(self, ranked: list[tuple[_Search, np.ndarray]]) -> None:
        """PWWS: saliency softmax times the best swap's score at each word."""
        proposals: list[_Proposal] = []
        for s, _ in ranked:
            budget = self._budget_left(s)
            for i in s.order:
                proposal = self._propose(s, i)
                proposal.truncate(budget)
                budget -= len(proposal.words)
                proposals.append(proposal)
        scores = self._score_groups([p.swaps() for p in proposals], [p.search.label for p in proposals])
        best_swap: dict[tuple[int, int], float] = {}
        for p, sc in zip(proposals, scores):
            p.search.queries += len(p.words)
            best_swap[(id(p.search), p.index)] = float(sc.max()) if len(sc) else 0.0
        for s, saliency in ranked:
            if s.order:  # a text of stop words only has nothing to weight (its search fails next step)
                weights = softmax(saliency) * np.array([best_swap.get((id(s), i), 0.0) for i in s.order])
                s.order = [s.order[k] for k in _ranked(weights)]
            if self._budget_left(s) == 0:
                s.status = FAILED

    def _greedy_step(self, active: list[_Search]) -> None:
        proposals = []
        for s in active:
            proposal = self._next_proposal(s)
            if proposal is None:
                s.status = FAILED
                continue
            proposal.truncate(self._budget_left(s))
            proposals.append(proposal)
        all_probs = self.scorer.swap_probabilities([p.swaps() for p in proposals])
        for p, probs in zip(proposals, all_probs):
            s = p.search
            s.queries += len(p.words)
            scores = 1.0 - probs[:, s.label]
            best = int(np.argmax(scores))
            if scores[best] > s.score + SCORE_TOLERANCE:
                s.words[p.index] = p.words[best]
                s.probs = probs[best]
                if s.prediction != s.label:
                    s.status = SUCCESSFUL
                    continue
            if self._budget_left(s) == 0 or s.cursor >= len(s.order):
                s.status = FAILED

    # -- helpers ----------------------------------------------------------------------------

    def _next_proposal(self, s: _Search) -> _Proposal | None:
        while s.cursor < len(s.order):
            index = s.order[s.cursor]
            s.cursor += 1
            proposal = self._propose(s, index)
            if proposal.words:
                return proposal
        return None

    def _propose(self, s: _Search, index: int) -> _Proposal:
        current = s.words[index]
        words = [w for w in dict.fromkeys(self.candidates(current, s.rng)) if w != current]  # dedupe, keep order
        for allowed in self.text_constraints:
            if words:
                words = allowed(s.split, s.words, index, words)
        return _Proposal(search=s, index=index, words=words)

    def _budget_left(self, s: _Search) -> int:
        return 1 << 62 if self.max_queries is None else max(self.max_queries - s.queries, 0)

    def _score_groups(self, groups: list[SwapGroup], labels: list[int]) -> list[np.ndarray]:
        return [1.0 - p[:, y] for p, y in zip(self.scorer.swap_probabilities(groups), labels)]

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


def _ranked(scores: np.ndarray) -> np.ndarray:
    """Positions by decreasing score, ties (within float noise) in their original order."""
    return np.argsort(-np.round(scores / SCORE_TOLERANCE), kind="stable")


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


class GreedyWordSwapAttack(Attack):
    """A fast word-swap attack: subclasses pick the candidates, the ranking and text constraints.

    Stop words (NLTK's English list, as TextAttack's StopwordModification) are never modified.
    ``batch_size`` 64: on one CPU thread a transformer runs fastest per text in small batches.
    On the BiGRU-attention student, swaps reuse the GRU states of the text they change
    (``reuse_states``, in batches of ``reuse_batch_size`` swaps). ``threads`` (default: torch's
    intra-op thread count at call time) splits a call into that many shards run side by side,
    each with torch on one thread (see ``sharding``). Results are the same either way: every
    example draws from its own random stream.
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
        examples_per_batch: int = 2048,
        reuse_states: bool = True,
        reuse_batch_size: int = 256,
        threads: int | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        stopwords = english_stopwords()
        candidates = self.word_candidates()
        self.model = model
        self.threads = threads

        def build() -> BatchedGreedyWordSwap:
            scorer = BatchScorer(
                model, tokenizer, batch_size=batch_size, reuse_states=reuse_states, reuse_batch_size=reuse_batch_size
            )
            return BatchedGreedyWordSwap(
                scorer,
                candidates,
                can_modify=lambda word: word not in stopwords,
                ranking=self.ranking,
                text_constraints=self.text_constraints(),
                max_queries=max_queries,
                seed=seed,
                examples_per_batch=examples_per_batch,
            )

        self._build_search = build
        # one per shard, each with its own caches; made now so that a call does not pay for them
        self._searches = [build() for _ in range(threads or torch.get_num_threads())]

    @property
    def scorer(self) -> BatchScorer:
        return self._searches[0].scorer

    def word_candidates(self) -> WordCandidates:
        raise NotImplementedError

    def text_constraints(self) -> list[TextConstraint]:
        return []

    def attack(self, texts: Sequence[str], labels: Sequence[int]) -> list[AttackRecord]:
        check_inputs(texts, labels)
        shards = shard_count(len(texts), self.threads or torch.get_num_threads())
        while len(self._searches) < shards:
            self._searches.append(self._build_search())
        with eval_mode(self.model):  # once for all shards: they must not toggle it under each other
            return run_sharded([search.run for search in self._searches[:shards]], texts, labels)
