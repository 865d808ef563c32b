"""The baseline: candidates drawn uniformly (family first, then every gene), never twice."""

from __future__ import annotations

import random
from typing import Sequence

from fedrobust.search.archive import Archive
from fedrobust.search.pareto import Bound, Objective
from fedrobust.search.space import SearchSpace
from fedrobust.search.strategy import SEARCH_STRATEGIES, unseen_random


@SEARCH_STRATEGIES.register("random")
class RandomSearch:
    def __init__(self, batch: int = 4) -> None:
        self.batch = batch

    def run(
        self, space: SearchSpace, archive: Archive, objectives: Sequence[Objective], bounds: Sequence[Bound],
        rng: random.Random,
    ) -> None:
        while archive.remaining > 0:
            taken: set[str] = set()
            batch = []
            for _ in range(min(self.batch, archive.remaining)):
                candidate = unseen_random(space, archive, rng, taken)
                if candidate is None:
                    break
                taken.add(space.key(candidate))
                batch.append(candidate)
            if not batch:
                return  # the space is exhausted
            archive.evaluate(batch)
