"""Pooling the attacks of many devices into one batch gives each device the figures of its own call."""

from __future__ import annotations

import math

import pytest

from fedrobust.evaluation import AttackEvalConfig, ThreatModel, attack_metrics
from fedrobust.evaluation.attack_eval import TextPool, evaluate_threats, evaluate_threats_pooled
from fedrobust.evaluation.measure import attack_metrics_pooled
from fedrobust.federated.algorithms import build_algorithm
from fedrobust.federated.device_eval import shares_received_model
from tests.data_helpers import synthetic_rows
from tests.federated_helpers import tiny_student, tokenizer

SETTINGS = AttackEvalConfig(attacks=[ThreatModel("fast_deepwordbug", word_budgets=[0.1, 0.5]),
                                     ThreatModel("fast_pwws", word_budgets=[0.25], max_queries=40)], examples=3)


def _pools() -> list[TextPool]:
    rows = synthetic_rows(n=40, num_owners=4)
    texts, labels = [r["review"] for r in rows], [int(r["stars"][1:]) for r in rows]
    sizes = [1, 5, 0, 2, 7, 4]  # a device without texts, devices below and above the sample size
    pools, start = [], 0
    for k, size in enumerate(sizes):
        pools.append(TextPool(texts[start:start + size], labels[start:start + size], seed=1000 + 7 * k))
        start += size
    return pools


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)


def test_pooled_attack_metrics_equal_each_pools_own_call():
    model, pools = tiny_student(seed=3), _pools()
    pooled = attack_metrics_pooled(model, tokenizer(), pools, SETTINGS)
    alone = [attack_metrics(model, tokenizer(), pool.texts, pool.labels, SETTINGS, pool.seed) for pool in pools]
    assert len(pooled) == len(pools)
    for mine, own in zip(pooled, alone):
        assert _same(mine, own), (mine, own)
    assert pooled[2]["n_attacked"] == 0 and math.isnan(pooled[2]["adversarial_acc"])
    assert sum(m["n_attacked"] for m in pooled) == sum(min(len(p.texts), 3) for p in pools)


def test_pooled_records_are_the_records_of_each_call():
    model, pools = tiny_student(seed=5), [p for p in _pools() if p.texts]
    pooled = evaluate_threats_pooled(model, tokenizer(), pools, SETTINGS)
    for pool, results in zip(pools, pooled):
        own = evaluate_threats(model, tokenizer(), pool.texts, pool.labels, SETTINGS, pool.seed)
        assert results.keys() == own.keys()
        for label in own:
            assert [r.to_dict() for r in results[label][0]] == [r.to_dict() for r in own[label][0]]
            assert results[label][1]["seed"] == pool.seed


@pytest.mark.parametrize("algorithm, pooled", [("fedavg_ft", True), ("robust_student", True), ("ditto", True),
                                               ("fedrep", False)])
def test_only_algorithms_that_measure_the_received_model_pool(algorithm, pooled):
    assert shares_received_model(build_algorithm(algorithm)) is pooled
