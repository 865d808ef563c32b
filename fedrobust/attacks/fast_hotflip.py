"""fast_hotflip: HotFlip word flips (Ebrahimi et al. 2018) guided by the gradient, batched.

Same recipe as TextAttack's HotFlipEbrahimi2017 where it runs offline: each step proposes the
``top_n`` word flips with the largest first-order loss increase (see gradient_flips), evaluates
them for real and keeps a beam of ``beam_width`` texts; at most two words flipped, stop words
and flipped words left alone. TextAttack's embedding-cosine and part-of-speech constraints need
downloaded resources and are not applied. All examples advance one beam step at a time, their
gradients and candidates scored in shared batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from fedrobust.attacks.base import Attack, check_inputs
from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.gradient_flips import FlipRequest, GradientFlips
from fedrobust.attacks.records import FAILED, SKIPPED, SUCCESSFUL, AttackRecord
from fedrobust.attacks.scoring import BatchScorer
from fedrobust.attacks.words import SplitText, english_stopwords, perturbed_fraction
from fedrobust.models.base import TextClassifier


@dataclass
class _Beam:
    words: list[str]
    modified: frozenset[int]
    probs: np.ndarray


@dataclass
class _Search:
    split: SplitText
    label: int
    clean_probs: np.ndarray
    beam: list[_Beam]
    best: _Beam
    queries: int = 1
    status: str = "searching"


class FastHotFlip(Attack):
    name = "fast_hotflip"

    def __init__(
        self,
        model: TextClassifier,
        tokenizer: Any,
        *,
        max_queries: int | None = None,
        seed: int = 0,
        max_words: int = 2,
        top_n: int = 1,
        beam_width: int = 10,
        batch_size: int = 64,
    ) -> None:
        self.flips = GradientFlips(model, tokenizer, top_n=top_n, batch_size=batch_size)
        self.scorer = BatchScorer(model, tokenizer, batch_size=batch_size)
        self.max_queries = max_queries
        self.max_words = max_words
        self.beam_width = beam_width
        self.stopwords = english_stopwords()

    def attack(self, texts: Sequence[str], labels: Sequence[int]) -> list[AttackRecord]:
        check_inputs(texts, labels)
        searches = []
        for text, label, p in zip(texts, labels, self.scorer.probabilities(list(texts))):
            split = SplitText.from_text(text)
            start = _Beam(list(split.words), frozenset(), p)
            search = _Search(split=split, label=int(label), clean_probs=p, beam=[start], best=start)
            if int(p.argmax()) != search.label:
                search.status = SKIPPED
            elif self._budget_left(search) == 0:
                search.status = FAILED
            searches.append(search)
        while any(s.status == "searching" for s in searches):
            self._step([s for s in searches if s.status == "searching"])
        return [self._record(text, s) for text, s in zip(texts, searches)]

    def _request(self, search: _Search, beam: _Beam) -> FlipRequest:
        allowed: list[int] = []
        if len(beam.modified) < self.max_words:
            allowed = [i for i, w in enumerate(beam.words) if i not in beam.modified and w not in self.stopwords]
        return FlipRequest(search.split.render(beam.words), beam.words, allowed, search.label)

    def _step(self, active: list[_Search]) -> None:
        pairs = [(s, b) for s in active for b in s.beam]
        proposals = self.flips.propose([self._request(s, b) for s, b in pairs])
        candidates: dict[int, list[_Beam]] = {id(s): [] for s in active}
        for (search, beam), proposed in zip(pairs, proposals):
            for index, word, _gain in proposed:
                words = list(beam.words)
                words[index] = word
                candidates[id(search)].append(_Beam(words, beam.modified | {index}, search.clean_probs))
        scored: list[_Beam] = []
        texts: list[str] = []
        for search in active:
            options = candidates[id(search)][: self._budget_left(search)]
            candidates[id(search)] = options
            if not options:
                search.status = FAILED  # nothing left to flip: the last step's best stands
            scored.extend(options)
            texts.extend(search.split.render(b.words) for b in options)
        for beam, probs in zip(scored, self.scorer.probabilities(texts)):
            beam.probs = probs
        for search in active:
            options = candidates[id(search)]
            if not options:
                continue
            search.queries += len(options)
            options.sort(key=lambda b: b.probs[search.label])  # highest 1 - p(label) first
            search.best = options[0]
            if int(search.best.probs.argmax()) != search.label:
                search.status = SUCCESSFUL
            elif self._budget_left(search) == 0:
                search.status = FAILED
            else:
                search.beam = options[: self.beam_width]

    def _budget_left(self, search: _Search) -> int:
        return 1 << 62 if self.max_queries is None else max(self.max_queries - search.queries, 0)

    @staticmethod
    def _record(text: str, search: _Search) -> AttackRecord:
        best = search.best
        return AttackRecord(
            text=text,
            label=search.label,
            clean_pred=int(search.clean_probs.argmax()),
            adv_pred=int(best.probs.argmax()),
            result=search.status,
            queries=search.queries,
            perturbed_fraction=perturbed_fraction(search.split.words, best.words),
            perturbed_text=search.split.render(best.words),
        )


ATTACKS.register("fast_hotflip")(FastHotFlip)
