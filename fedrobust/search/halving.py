"""Synchronous successive halving: many candidates on a small budget, the best promoted to larger ones.

    strategy:
      name: successive_halving
      options: {eta: 3, min_budget: 0.111, max_budget: 1.0, resource: data, initial: null}

Budgets are shares of the full per-candidate budget (the base distill config's ``train.epochs``
over every training row); ``resource`` says what a share shrinks: ``data`` (the share of training
rows, every epoch kept) or ``epochs`` (``round(share * train.epochs)`` epochs, at least 1, the
schedule scaled; see fedrobust.search.fidelity). Rung k (0 = first) trains at
``max_budget / eta ** (R - 1 - k)``, R = 1 + floor(log_eta(max_budget / min_budget)) rungs: the
first rung is at least ``min_budget``, the last at ``max_budget``.

    rung 0: n0 distinct random candidates (``initial``; null: the largest n0 whose whole plan,
            n0 + floor(n0 / eta) + floor(n0 / eta^2) + ..., fits the search's `candidates`)
    rung k+1: the best max(1, floor(n0 / eta^(k+1))) of rung k, trained again at the larger budget

Promotion rule (multi-objective; the search's objectives and `feasible` bounds on the rung's
validation metrics): candidates within the bounds first, ordered by non-dominated front (NSGA-II
sorting), then by crowding distance (larger first); then those out of bounds, least out first;
remaining ties by store key. The rule reads only the rung's metrics and keys, and a rung is decided
when all its evaluations are done, so the promotions, and the front (the Pareto front of the last
rung), are the same for a given seed whatever the parallelism and the order trials finish in; a
resumed search replays the finished rungs from the store. The price of the synchronous rule: a rung's
slowest trial holds the next rung back (asynchronous ASHA would promote as results arrive, making
promotions depend on timing).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from fedrobust.config_schema import AT_LEAST_ONE, Limit, check_all, check_limits, dotted, validated
from fedrobust.errors import ConfigError
from fedrobust.search.archive import Archive, Entry
from fedrobust.search.fidelity import Fidelity
from fedrobust.search.pareto import Bound, Objective, rank_and_crowding, violation
from fedrobust.search.space import Candidate, SearchSpace
from fedrobust.search.strategy import SEARCH_STRATEGIES, unseen_random

RESOURCES = ("data", "epochs")


@dataclass
class SuccessiveHalvingSettings:
    eta: int = 3  # reduction factor: 1 / eta of a rung is promoted, at eta times the budget
    min_budget: float = 1 / 9  # share of the full per-candidate budget at the first rung (at least)
    max_budget: float = 1.0  # at the last rung
    resource: str = "data"  # data | epochs: what a budget share shrinks
    initial: int | None = None  # candidates at the first rung; null: as many as `candidates` allows

    LIMITS: ClassVar[dict[str, Limit]] = {"eta": Limit(2), "min_budget": Limit(0, 1, open_low=True),
                                          "max_budget": Limit(0, 1, open_low=True), "initial": AT_LEAST_ONE}

    def validate(self, where: str = "strategy.options") -> None:
        key = lambda name: dotted(where, name)  # noqa: E731
        check_limits(self, where)
        check_all([
            (self.resource in RESOURCES, f"{key('resource')} must be one of {', '.join(RESOURCES)}, got {self.resource!r}"),
            (self.min_budget <= self.max_budget,
             f"{key('min_budget')}={self.min_budget:g} must be <= {key('max_budget')}={self.max_budget:g}"),
        ])

    @property
    def rungs(self) -> int:
        return 1 + math.floor(math.log(self.max_budget / self.min_budget) / math.log(self.eta) + 1e-9)

    def budgets(self) -> list[float]:
        return [self.max_budget / self.eta ** (self.rungs - 1 - k) for k in range(self.rungs)]

    def sizes(self, initial: int) -> list[int]:
        return [max(1, initial // self.eta ** k) for k in range(self.rungs)]

    def initial_for(self, evaluations: int, where: str = "strategy.options") -> int:
        """``initial``, or the largest rung-0 size whose plan fits ``evaluations``."""
        if self.initial is not None:
            if sum(self.sizes(self.initial)) > evaluations:
                raise ConfigError(f"config key {dotted(where, 'initial')}={self.initial} plans "
                                  f"{sum(self.sizes(self.initial))} evaluations ({self.sizes(self.initial)} per rung); "
                                  f"config key candidates allows {evaluations}")
            return self.initial
        if self.rungs > evaluations:
            raise ConfigError(f"config key candidates={evaluations} cannot hold one candidate through the "
                              f"{self.rungs} rungs of {dotted(where, 'min_budget')}..max_budget at eta {self.eta}")
        n = 1
        while sum(self.sizes(n + 1)) <= evaluations:
            n += 1
        return n

    def fidelities(self, full: Fidelity, where: str = "strategy.options") -> list[Fidelity]:
        """Each rung's budget as epochs and data share; refuses two rungs with the same one."""
        if self.resource == "data":
            found = [Fidelity(full.epochs, share) for share in self.budgets()]
        else:
            found = [Fidelity(max(1, math.floor(share * full.epochs + 0.5)), 1.0) for share in self.budgets()]
        for low, high in zip(found, found[1:]):
            if low == high:
                raise ConfigError(f"config keys {dotted(where, 'min_budget')} / {dotted(where, 'eta')}: two rungs train "
                                  f"{low.epochs} epochs on {low.data_fraction:g} of the data (train.epochs="
                                  f"{full.epochs}); raise min_budget, lower eta, or use {dotted(where, 'resource')}: data")
        return found


def promotion_order(entries: Sequence[Entry], objectives: Sequence[Objective], bounds: Sequence[Bound]) -> list[Entry]:
    """Best first: within the bounds by (front, -crowding, key), then the others by (violation, key)."""
    inside = sorted((e for e in entries if violation(e.metrics, bounds) == 0), key=lambda e: e.key)
    outside = sorted((e for e in entries if violation(e.metrics, bounds) > 0),
                     key=lambda e: (violation(e.metrics, bounds), e.key))
    scores = rank_and_crowding([e.metrics for e in inside], objectives)
    order = sorted(range(len(inside)), key=lambda i: (scores[i][0], -scores[i][1], inside[i].key))
    return [inside[i] for i in order] + outside


@SEARCH_STRATEGIES.register("successive_halving")
class SuccessiveHalving:
    SETTINGS: ClassVar[type] = SuccessiveHalvingSettings

    def __init__(self, **options: Any) -> None:
        self.settings: SuccessiveHalvingSettings = validated(SuccessiveHalvingSettings, options, "strategy.options")

    def check(self, full: Fidelity, evaluations: int) -> None:
        """Refuse a plan that cannot run, before any work (called by the config's validation)."""
        self.settings.fidelities(full)
        self.settings.initial_for(evaluations)

    def front_fidelity(self, full: Fidelity) -> Fidelity:
        return self.settings.fidelities(full)[-1]

    def plan(self, full: Fidelity, evaluations: int) -> list[dict[str, Any]]:
        """Per rung: its budget share, fidelity and planned number of candidates."""
        sizes = self.settings.sizes(self.settings.initial_for(evaluations))
        return [{"rung": k, "budget": round(b, 6), "fidelity": f.to_dict(), "candidates": n}
                for k, (b, f, n) in enumerate(zip(self.settings.budgets(), self.settings.fidelities(full), sizes))]

    def run(
        self, space: SearchSpace, archive: Archive, objectives: Sequence[Objective], bounds: Sequence[Bound],
        rng: random.Random,
    ) -> None:
        fidelities = self.settings.fidelities(archive.full)
        sizes = self.settings.sizes(self.settings.initial_for(archive.budget))
        first: list[Candidate] = []
        taken: set[str] = set()
        while len(first) < sizes[0]:
            candidate = unseen_random(space, archive, rng, taken)
            if candidate is None:
                break  # the space is smaller than the first rung
            taken.add(space.key(candidate))
            first.append(candidate)
        archive.evaluate(first, fidelities[0], rung=0)
        for k in range(1, len(fidelities)):
            rung = [e for e in archive.entries if e.rung == k - 1]
            promoted = [e.candidate for e in promotion_order(rung, objectives, bounds)[: sizes[k]]]
            archive.evaluate(promoted, fidelities[k], rung=k)
