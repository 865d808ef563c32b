"""The fast word-swap attacks: a recipe plugs a transformation, constraints and a search method
(chosen by name) into one batched engine.

``BatchedWordSwap`` runs one shard: it scores the clean texts, starts every example's bookkeeping
(``ExampleSearch``), lets the search method advance them all and turns them into records.
``WordSwapAttack`` is the ``Attack`` a recipe subclasses; it owns one engine per shard.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from fedrobust.attacks import beam_search, greedy_search  # noqa: F401  (register the search methods)
from fedrobust.attacks.base import Attack, check_inputs
from fedrobust.attacks.budgets import check_word_budget
from fedrobust.attacks.randomness import ExampleRandom, Stream, default_streams
from fedrobust.attacks.records import AttackRecord
from fedrobust.attacks.scoring import BatchScorer, eval_mode
from fedrobust.attacks.search import ExampleSearch, SearchMethod, SearchParts, SearchSettings, build_search
from fedrobust.attacks.sharding import run_in_batches, run_sharded, shard_count
from fedrobust.attacks.word_swaps import ModifiableWords, SwapProposer, TextConstraint, Transformation
from fedrobust.attacks.words import english_stopwords
from fedrobust.errors import ConfigError, DataError
from fedrobust.models.base import TextClassifier


class BatchedWordSwap:
    """Attacks many examples at once with one search method; ``run`` is a shard runner."""

    def __init__(
        self,
        parts: SearchParts,
        method: SearchMethod,
        *,
        max_queries: int | None = None,
        seed: int = 0,
        examples_per_batch: int | None = 2048,
    ) -> None:
        self.parts = parts
        self.method = method
        self.max_queries = max_queries
        self.seed = seed
        self.examples_per_batch = examples_per_batch

    @property
    def scorer(self) -> BatchScorer:
        return self.parts.scorer

    def run(self, texts: Sequence[str], labels: Sequence[int], streams: Sequence[Stream] | None = None) -> list[AttackRecord]:
        """Records in input order; ``streams``: each example's random stream (default: this
        engine's seed and the example's position)."""
        streams = default_streams(self.seed, len(texts)) if streams is None else streams
        return run_in_batches(self._run_batch, texts, labels, streams, self.examples_per_batch)

    def _run_batch(self, texts: list[str], labels: list[int], streams: list[Stream]) -> list[AttackRecord]:
        self.scorer.forget()
        try:
            probs = self.scorer.probabilities(texts, remember=self.method.remembers_texts)
            examples = [
                ExampleSearch.start(text, label, p, ExampleRandom(*stream), self.max_queries)
                for text, label, p, stream in zip(texts, labels, probs, streams)
            ]
            self.method.search([e for e in examples if e.searching], self.parts)
        finally:
            self.scorer.forget()  # the model may change before the next call (adversarial training)
        return [e.record() for e in examples]


class WordSwapAttack(Attack):
    """A fast word-swap attack; a recipe subclass gives ``transformation()``, ``constraints()``,
    ``modifiable_words()`` and its default ``search_method`` and word ``ranking``.

    ``search`` picks another search method by name (``greedy_wir``, ``beam``), ``beam_width`` is the
    beam's. Stop words (NLTK's English list, as TextAttack's StopwordModification) are never
    modified. The word budget: at most ``max_words`` words and at most ``max_word_fraction`` of a
    text's words (rounded up) changed, None not limiting (see budgets.word_limit). Both searches
    follow the same path whatever the budget and stop on the first flip, so the budget only cuts the
    path short: ``nested_word_budgets``. ``batch_size`` 64: on one CPU thread a transformer runs
    fastest per text in small batches. A model that offers a swap-logits fast path (the
    BiGRU-attention student reuses GRU states) serves the searches that score swaps
    (``reuse_states``, in batches of ``reuse_batch_size`` swaps). ``threads`` (default: torch's
    intra-op thread count at call time) splits a call into that many shards run side by side, each
    with torch on one thread (see ``sharding``). Results are the same either way: every example
    draws from its own random stream.
    """

    search_method = "greedy_wir"
    ranking = "unk"
    nested_word_budgets = True
    pools_streams = True

    def __init__(
        self,
        model: TextClassifier,
        tokenizer: Any,
        *,
        max_queries: int | None = None,
        seed: int = 0,
        search: str | None = None,
        beam_width: int = 10,
        batch_size: int = 64,
        examples_per_batch: int | None = 2048,
        reuse_states: bool = True,
        reuse_batch_size: int = 256,
        threads: int | None = None,
        max_words: int | None = None,
        max_word_fraction: float | None = None,
    ) -> None:
        check_word_budget(max_words, max_word_fraction)
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"max_queries must be at least 1 (the clean prediction), got {max_queries}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        self.max_words = max_words
        self.max_word_fraction = max_word_fraction
        settings = SearchSettings(ranking=self.ranking, beam_width=beam_width)
        search_name = search or self.search_method
        build_search(search_name, settings)  # fail early on a bad name or setting
        proposer = SwapProposer(self.transformation(), tuple(self.constraints()))
        modifiable = self.modifiable_words()
        self.model = model
        self.threads = threads
        self.seed = seed

        def build() -> BatchedWordSwap:
            scorer = BatchScorer(
                model, tokenizer, batch_size=batch_size, reuse_states=reuse_states, reuse_batch_size=reuse_batch_size
            )
            return BatchedWordSwap(
                SearchParts(scorer, proposer, modifiable),
                build_search(search_name, settings),
                max_queries=max_queries,
                seed=seed,
                examples_per_batch=examples_per_batch,
            )

        self._build_engine = build
        # one per shard, each with its own caches; made now so that a call does not pay for them
        self._engines = [build() for _ in range(threads or torch.get_num_threads())]

    @property
    def scorer(self) -> BatchScorer:
        return self._engines[0].scorer

    def transformation(self) -> Transformation:
        raise NotImplementedError

    def constraints(self) -> list[TextConstraint]:
        return []

    def modifiable_words(self) -> ModifiableWords:
        return ModifiableWords(english_stopwords(), self.max_words, self.max_word_fraction)

    def attack(
        self, texts: Sequence[str], labels: Sequence[int], streams: Sequence[Stream] | None = None
    ) -> list[AttackRecord]:
        check_inputs(texts, labels)
        streams = default_streams(self.seed, len(texts)) if streams is None else streams
        if len(streams) != len(texts):
            raise DataError(f"attack got {len(texts)} texts but {len(streams)} random streams")
        shards = shard_count(len(texts), self.threads or torch.get_num_threads())
        while len(self._engines) < shards:
            self._engines.append(self._build_engine())
        with eval_mode(self.model):  # once for all shards: they must not toggle it under each other
            return run_sharded([engine.run for engine in self._engines[:shards]], texts, labels, streams)
