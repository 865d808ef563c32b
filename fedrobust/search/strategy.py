"""Search strategies by name: ``SEARCH_STRATEGIES.get("evolution")(**options).run(...)``.

A strategy takes its options as constructor keywords (checked against its signature), or declares
``SETTINGS``, a dataclass that validates them (errors name ``strategy.options.<key>``). A
multi-fidelity strategy also offers ``check(full, evaluations)`` (refuse a plan before any work),
``front_fidelity(full)`` (the budget its front is drawn at) and ``plan(full, evaluations)`` (written
to pareto.json); see fedrobust.search.halving.
"""

from __future__ import annotations

import random
from typing import Protocol, Sequence

from fedrobust.registry import Registry
from fedrobust.search.archive import Archive
from fedrobust.search.pareto import Bound, Objective
from fedrobust.search.space import Candidate, SearchSpace


class SearchStrategy(Protocol):
    def run(
        self, space: SearchSpace, archive: Archive, objectives: Sequence[Objective], bounds: Sequence[Bound],
        rng: random.Random,
    ) -> None:
        """Propose candidates and evaluate them through ``archive`` until its budget is spent."""


SEARCH_STRATEGIES: Registry[type] = Registry("search strategy")


def unseen_random(
    space: SearchSpace, archive: Archive, rng: random.Random, taken: set[str], max_tries: int = 500
) -> Candidate | None:
    """A random candidate not evaluated yet and not in ``taken`` (keys); None when none is found."""
    for _ in range(max_tries):
        candidate = space.sample(rng)
        key = space.key(candidate)
        if key not in taken and not archive.seen(candidate):
            return candidate
    return None
