"""Pareto dominance over named metrics, non-dominated sorting and crowding distance (NSGA-II)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from fedrobust.errors import ConfigError


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: str = "max"  # "max" or "min"

    def __post_init__(self) -> None:
        if self.goal not in ("max", "min"):
            raise ConfigError(f"objective {self.metric}: goal must be 'max' or 'min', got {self.goal!r}")

    def oriented(self, metrics: Mapping[str, Any]) -> float:
        """The metric turned so that larger is always better."""
        if self.metric not in metrics:
            raise ConfigError(f"objective metric {self.metric!r} is not measured; measured: {sorted(metrics)}")
        value = float(metrics[self.metric])
        return value if self.goal == "max" else -value


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], objectives: Sequence[Objective]) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    pairs = [(o.oriented(a), o.oriented(b)) for o in objectives]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def pareto_front(points: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> list[int]:
    """Indices of the points no other point dominates (ties on every objective all stay)."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p, objectives) for q in points)]


def non_dominated_sort(points: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> list[list[int]]:
    """Fronts of indices: the Pareto front, then the front of what is left, and so on."""
    left = list(range(len(points)))
    fronts = []
    while left:
        front = [i for i in left if not any(dominates(points[j], points[i], objectives) for j in left)]
        fronts.append(front)
        left = [i for i in left if i not in front]
    return fronts


def crowding_distance(
    points: Sequence[Mapping[str, Any]], front: Sequence[int], objectives: Sequence[Objective]
) -> dict[int, float]:
    """How isolated each member of one front is along the objectives (ends are infinitely so)."""
    distance = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    for objective in objectives:
        ordered = sorted(front, key=lambda i: objective.oriented(points[i]))
        low, high = objective.oriented(points[ordered[0]]), objective.oriented(points[ordered[-1]])
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, middle, after in zip(ordered, ordered[1:], ordered[2:]):
            gap = objective.oriented(points[after]) - objective.oriented(points[before])
            distance[middle] += gap / (high - low)
    return distance


def rank_and_crowding(points: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> list[tuple[int, float]]:
    """Per point (front number, crowding distance): smaller front first, then larger distance."""
    result: list[tuple[int, float]] = [(0, 0.0)] * len(points)
    for rank, front in enumerate(non_dominated_sort(points, objectives)):
        for i, d in crowding_distance(points, front, objectives).items():
            result[i] = (rank, d)
    return result


@dataclass(frozen=True)
class Bound:
    """A feasibility bound: with goal "max" the metric must be >= value, with "min" <= value."""

    metric: str
    value: float
    goal: str = "max"

    def shortfall(self, metrics: Mapping[str, Any]) -> float:
        """0 when met, else how far off relative to the bound (comparable across metrics)."""
        if self.metric not in metrics:
            raise ValueError(f"a candidate's metrics have no {self.metric!r}, which a feasibility bound needs; "
                             f"they have {', '.join(sorted(metrics))} (an evaluator must report every metric "
                             "the search selects on)")
        gap = self.value - float(metrics[self.metric]) if self.goal == "max" else float(metrics[self.metric]) - self.value
        return max(0.0, gap) / (abs(self.value) or 1.0)


def violation(metrics: Mapping[str, Any], bounds: Sequence[Bound]) -> float:
    return sum(b.shortfall(metrics) for b in bounds)


def feasible_front(
    points: Sequence[Mapping[str, Any]], objectives: Sequence[Objective], bounds: Sequence[Bound] = ()
) -> list[int]:
    """Indices of the Pareto front of the points that meet every bound."""
    kept = [i for i, p in enumerate(points) if violation(p, bounds) == 0]
    return [kept[j] for j in pareto_front([points[i] for i in kept], objectives)]
