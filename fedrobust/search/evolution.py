"""Multi-objective evolution (NSGA-II selection, RoSearch-style search over student sizes).

    population <- `population` random candidates, evaluated
    while budget is left:
        survivors <- the best `population` of all evaluated: candidates within the bounds first, by
                     Pareto rank, then crowding distance; then the others, least out of bounds first
        children  <- `offspring` times: two binary-tournament parents, crossover with probability
                     `crossover_rate`, then mutation; never a candidate evaluated before
        evaluate children
"""

from __future__ import annotations

import random
from typing import Sequence

from fedrobust.errors import ConfigError
from fedrobust.search.archive import Archive
from fedrobust.search.crossover import crossover
from fedrobust.search.mutation import mutate
from fedrobust.search.pareto import Bound, Objective, rank_and_crowding, violation
from fedrobust.search.space import Candidate, SearchSpace
from fedrobust.search.strategy import SEARCH_STRATEGIES, unseen_random


@SEARCH_STRATEGIES.register("evolution")
class Evolution:
    def __init__(
        self, population: int = 6, offspring: int = 4, crossover_rate: float = 0.5,
        mutation_rate: float = 0.25, family_rate: float = 0.1, max_tries: int = 50,
    ) -> None:
        if population < 2 or offspring < 1:
            raise ConfigError("config keys strategy.options.population must be >= 2 and offspring >= 1")
        self.population, self.offspring = population, offspring
        self.crossover_rate, self.mutation_rate, self.family_rate = crossover_rate, mutation_rate, family_rate
        self.max_tries = max_tries

    def run(
        self, space: SearchSpace, archive: Archive, objectives: Sequence[Objective], bounds: Sequence[Bound],
        rng: random.Random,
    ) -> None:
        initial: list[Candidate] = []
        taken: set[str] = set()
        while len(initial) < min(self.population, archive.remaining):
            candidate = unseen_random(space, archive, rng, taken)
            if candidate is None:
                break
            taken.add(space.key(candidate))
            initial.append(candidate)
        archive.evaluate(initial)
        while archive.remaining > 0:
            survivors = self._survivors(archive, objectives, bounds)
            children = self._children(space, archive, survivors, rng, min(self.offspring, archive.remaining))
            if not children:
                return  # the space is exhausted
            archive.evaluate(children)

    def _survivors(
        self, archive: Archive, objectives: Sequence[Objective], bounds: Sequence[Bound]
    ) -> list[Candidate]:
        """The best `population` candidates, best first."""
        entries = [e for e in archive.entries if e.candidate is not None]
        inside = [e for e in entries if violation(e.metrics, bounds) == 0]
        outside = sorted((e for e in entries if violation(e.metrics, bounds) > 0), key=lambda e: violation(e.metrics, bounds))
        scores = rank_and_crowding([e.metrics for e in inside], objectives)
        order = sorted(range(len(inside)), key=lambda i: (scores[i][0], -scores[i][1], i))
        return [e.candidate for e in [inside[i] for i in order] + outside][: self.population]

    @staticmethod
    def _tournament(survivors: list[Candidate], rng: random.Random) -> Candidate:
        a, b = rng.sample(range(len(survivors)), 2) if len(survivors) > 1 else (0, 0)
        return survivors[min(a, b)]  # survivors are best first: the better of the two wins

    def _children(
        self, space: SearchSpace, archive: Archive, survivors: list[Candidate],
        rng: random.Random, count: int,
    ) -> list[Candidate]:
        children: list[Candidate] = []
        taken: set[str] = set()
        while len(children) < count:
            child = None
            for _ in range(self.max_tries):
                parent = self._tournament(survivors, rng)
                if rng.random() < self.crossover_rate:
                    parent = crossover(parent, self._tournament(survivors, rng), space, rng)
                proposal = mutate(parent, space, rng, self.mutation_rate, self.family_rate)
                key = space.key(proposal)
                if key not in taken and not archive.seen(proposal):
                    child = proposal
                    break
            if child is None:  # the neighbourhood is used up: explore elsewhere
                child = unseen_random(space, archive, rng, taken)
                if child is None:
                    break
            taken.add(space.key(child))
            children.append(child)
        return children
