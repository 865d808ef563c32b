"""Pareto front, non-dominated sorting and crowding on hand-made points."""

import math

import pytest

from fedrobust.errors import ConfigError
from fedrobust.search.pareto import (
    Bound, Objective, crowding_distance, dominates, feasible_front, non_dominated_sort, pareto_front, violation,
)

OBJ = [Objective("acc", "max"), Objective("adv", "max"), Objective("params", "min")]
POINTS = [
    {"acc": 0.80, "adv": 0.10, "params": 1000},  # 0 front: most accurate
    {"acc": 0.70, "adv": 0.30, "params": 1000},  # 1 front: most robust
    {"acc": 0.60, "adv": 0.05, "params": 100},   # 2 front: smallest
    {"acc": 0.70, "adv": 0.10, "params": 1000},  # 3 dominated by 0 and by 1
    {"acc": 0.80, "adv": 0.10, "params": 1000},  # 4 a tie with 0: neither dominates, both stay
    {"acc": 0.60, "adv": 0.05, "params": 200},   # 5 dominated by 2 (bigger, otherwise equal)
    {"acc": 0.50, "adv": 0.01, "params": 2000},  # 6 dominated by everything
]


def test_dominance():
    assert dominates(POINTS[0], POINTS[3], OBJ)
    assert not dominates(POINTS[0], POINTS[4], OBJ) and not dominates(POINTS[4], POINTS[0], OBJ)
    assert dominates(POINTS[2], POINTS[5], OBJ)
    assert not dominates(POINTS[0], POINTS[1], OBJ) and not dominates(POINTS[1], POINTS[0], OBJ)


def test_pareto_front_of_a_hand_made_set():
    assert pareto_front(POINTS, OBJ) == [0, 1, 2, 4]
    assert pareto_front(POINTS, OBJ[:1]) == [0, 4]  # one objective: the maxima
    assert pareto_front(POINTS, [Objective("params", "min")]) == [2]
    assert pareto_front([], OBJ) == []


def test_non_dominated_sort_layers():
    assert non_dominated_sort(POINTS, OBJ) == [[0, 1, 2, 4], [3, 5], [6]]


def test_crowding_distance_prefers_isolated_points():
    line = [{"acc": a, "adv": 1 - a} for a in (0.0, 0.1, 0.5, 0.9, 1.0)]
    obj = [Objective("acc"), Objective("adv")]
    assert pareto_front(line, obj) == [0, 1, 2, 3, 4]
    distance = crowding_distance(line, range(5), obj)
    assert math.isinf(distance[0]) and math.isinf(distance[4])
    assert distance[2] > distance[1] and distance[2] > distance[3]
    assert distance[1] == pytest.approx(2 * 0.5)


def test_unknown_metric_and_goal_are_config_errors():
    with pytest.raises(ConfigError, match="goal"):
        Objective("acc", "maximise")
    with pytest.raises(ConfigError, match="not measured"):
        pareto_front([{"acc": 1.0}], [Objective("adv")])


def test_bounds_drop_out_of_bounds_points_from_the_front():
    floor = [Bound("acc", 0.65)]
    assert violation(POINTS[2], floor) == pytest.approx(0.05 / 0.65)
    assert violation(POINTS[0], floor) == 0.0
    # without the smallest-but-inaccurate point 2, point 5 is still out: the front loses both
    assert feasible_front(POINTS, OBJ, floor) == [0, 1, 4]
    assert feasible_front(POINTS, OBJ, [Bound("params", 500, "min")]) == [2]  # a ceiling
    assert feasible_front(POINTS, OBJ, [Bound("acc", 0.99)]) == []
