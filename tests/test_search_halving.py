"""Successive halving on a fake evaluator: rungs, budgets and promotions; results shared through a
store across strategies; exact resume mid-rung; promotions independent of the order trials finish."""

import json
import logging
import random

import pytest

from fedrobust.errors import ConfigError
from fedrobust.search import config_from_mapping, run_search
from fedrobust.search.archive import Entry
from fedrobust.search.execution import LocalExecutor
from fedrobust.search.fidelity import Fidelity
from fedrobust.search.halving import promotion_order
from fedrobust.search.pareto import Bound, Objective
from fedrobust.search.space import student_key
from tests.test_search_resume import FakeEvaluator, Killed, search_config

HALVING = {"name": "successive_halving", "options": {"eta": 3, "min_budget": 1 / 9, "resource": "data"}}
TINY_SPACE = {"prado": {"projection_dim": [16, 32], "dim": [8, 16]}}  # 4 students


class FidelityFake(FakeEvaluator):
    """FakeEvaluator's scores, a little better with more budget; records (key, fidelity) of each call."""

    def __init__(self, die_at=None, **kwargs):
        super().__init__(die_at=die_at, **kwargs)
        self.runs = []

    def __call__(self, student, out_dir, fidelity=None):
        metrics = super().__call__(student, out_dir)
        share = 1.0 if fidelity is None else fidelity.data_fraction
        self.runs.append((student_key(student), share))
        metrics["val_natural_acc"] += 0.05 * share * random.Random(student_key(student) + "x").random()
        metrics["val_examples"] = 900
        return metrics


def halving_config(tmp_path, candidates=13, strategy=HALVING, **changes):
    """test_search_resume's search config with another strategy section."""
    mapping = search_config(tmp_path, "random", candidates=candidates, **changes).to_dict()
    mapping["strategy"] = strategy
    return config_from_mapping(mapping)


def by_rung(out_dir):
    rungs = {}
    for entry in json.loads((out_dir / "candidates.json").read_text()):
        rungs.setdefault(entry["rung"], []).append(entry)
    return rungs


def test_rungs_budgets_and_promotions(tmp_path):
    config = halving_config(tmp_path)
    fake = FidelityFake()
    result = run_search(config, tmp_path / "out", fake)
    rungs = by_rung(tmp_path / "out")
    assert [len(rungs[k]) for k in (0, 1, 2)] == [9, 3, 1]
    assert [{e["fidelity"]["data_fraction"] for e in rungs[k]} for k in (0, 1, 2)] == [{0.1111}, {0.3333}, {1.0}]
    assert {e["fidelity"]["epochs"] for rung in rungs.values() for e in rung} == {8}  # data resource: every epoch
    objectives, bounds = config.objective_list(), config.bounds()
    for k in (1, 2):
        below = [Entry(None, e["key"], e["student"], e["metrics"], True) for e in rungs[k - 1]]
        best = promotion_order(below, objectives, bounds)[: len(rungs[k])]
        assert [student_key(e.student) for e in best] == [student_key(e["student"]) for e in rungs[k]]
    # the last rung is at the full budget: plain student keys, and the front is drawn from it alone
    assert rungs[2][0]["key"] == student_key(rungs[2][0]["student"])
    assert [e["key"] for e in result.front] == [rungs[2][0]["key"]] and result.front_fidelity == Fidelity(8)
    pareto = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert [r["candidates"] for r in pareto["rungs"]] == [9, 3, 1] and pareto["evaluations"] == 13
    assert len(fake.runs) == 13 and {share for _, share in fake.runs} == {0.1111, 0.3333, 1.0}


def test_epochs_resource_and_initial(tmp_path):
    strategy = {"name": "successive_halving", "options": {"eta": 2, "min_budget": 0.25, "resource": "epochs",
                                                          "initial": 4}}
    run_search(halving_config(tmp_path, candidates=7, strategy=strategy), tmp_path / "out", FidelityFake())
    rungs = by_rung(tmp_path / "out")
    assert [len(rungs[k]) for k in (0, 1, 2)] == [4, 2, 1]
    assert [rungs[k][0]["fidelity"] for k in (0, 1, 2)] == [
        {"epochs": 2, "data_fraction": 1.0}, {"epochs": 4, "data_fraction": 1.0}, {"epochs": 8, "data_fraction": 1.0}]
    assert rungs[0][0]["key"].endswith("-e2-d1.0000")


def test_ties_are_broken_by_key_whatever_the_input_order():
    same = {"val_natural_acc": 0.7, "val_adversarial_acc": 0.3, "params": 10}
    entries = [Entry(None, key, {}, dict(same), True) for key in ("d", "b", "a", "c")]
    out = Entry(None, "e", {}, {**same, "val_natural_acc": 0.5}, True)
    objectives, bounds = [Objective("val_natural_acc"), Objective("params", "min")], [Bound("val_natural_acc", 0.6)]
    order = [e.key for e in promotion_order(entries + [out], objectives, bounds)]
    assert order == ["a", "d", "b", "c", "e"]  # crowding's ends first (a, d), then by key; out of bounds last
    for _ in range(5):
        shuffled = random.Random(_).sample(entries + [out], 5)
        assert [e.key for e in promotion_order(shuffled, objectives, bounds)] == order


class ReversedExecutor(LocalExecutor):
    """Finishes each batch's trials last to first, as a parallel backend may."""

    def map(self, trials):
        for i in reversed(range(len(trials))):
            trials[i].out_dir.mkdir(parents=True, exist_ok=True)
            yield i, trials[i].fn(*trials[i].args, trials[i].out_dir)


def comparable(out_dir):
    entries = json.loads((out_dir / "candidates.json").read_text())
    timing = ("search_seconds",)
    return [{**e, "metrics": {k: v for k, v in e["metrics"].items() if k not in timing}} for e in entries]


def test_completion_order_changes_nothing(tmp_path):
    config = halving_config(tmp_path)
    run_search(config, tmp_path / "in_order", FidelityFake())
    run_search(config, tmp_path / "reversed", FidelityFake(), executor=ReversedExecutor(threads=1))
    assert comparable(tmp_path / "reversed") == comparable(tmp_path / "in_order")
    front = [json.loads((tmp_path / d / "pareto.json").read_text())["front"] for d in ("in_order", "reversed")]
    assert [e["key"] for e in front[0]] == [e["key"] for e in front[1]]


@pytest.mark.parametrize("die_at", [5, 11])  # in the middle of rung 0, of rung 1
def test_killed_mid_rung_resumes_to_the_same_result(tmp_path, die_at):
    config = halving_config(tmp_path)
    whole = run_search(config, tmp_path / "whole", FidelityFake())
    dying = FidelityFake(die_at=die_at)
    with pytest.raises(Killed):
        run_search(config, tmp_path / "killed", dying)
    resumed_fake = FidelityFake()
    resumed = run_search(config, tmp_path / "killed", resumed_fake)
    assert not set(resumed_fake.runs) & set(dying.runs)  # nothing finished is evaluated again
    assert len(resumed_fake.runs) + len(dying.runs) == 13
    assert [e.key for e in resumed.entries] == [e.key for e in whole.entries]
    assert [e["key"] for e in resumed.front] == [e["key"] for e in whole.front]
    assert comparable(tmp_path / "killed") == [
        {**e, "metrics": {k: v for k, v in e["metrics"].items() if k != "search_seconds"}}
        for e in json.loads((tmp_path / "whole" / "candidates.json").read_text())]


def test_a_shared_store_serves_both_strategies_at_equal_budget(tmp_path):
    store = str(tmp_path / "store")
    halving = halving_config(tmp_path, candidates=6, space=TINY_SPACE, store=store,
                             strategy={"name": "successive_halving", "options": {"eta": 2, "min_budget": 0.5}})
    first = FidelityFake()
    run_search(halving, tmp_path / "halving", first)  # 4 at half the data, 2 at the full budget
    assert [share for _, share in first.runs] == [0.5] * 4 + [1.0] * 2
    random_search = search_config(tmp_path, "random", candidates=4, space=TINY_SPACE, store=store)
    second = FidelityFake()
    result = run_search(random_search, tmp_path / "random", second)
    full_done = {key for key, share in first.runs if share == 1.0}
    assert len(second.runs) == 2 and not {key for key, _ in second.runs} & full_done
    assert sum(e.reused for e in result.entries) == 2
    again = FidelityFake()  # the halving search again, with another first budget: 0.5 and 1.0 are stored
    wider = halving_config(tmp_path, candidates=7, space=TINY_SPACE, store=store,
                           strategy={"name": "successive_halving", "options": {"eta": 2, "min_budget": 0.25, "initial": 4}})
    run_search(wider, tmp_path / "wider", again)
    assert {share for _, share in again.runs} == {0.25}


def test_a_shared_store_refuses_another_evaluation_setting(tmp_path):
    store = str(tmp_path / "store")
    run_search(search_config(tmp_path, "random", candidates=2, store=store), tmp_path / "a", FidelityFake())
    other = search_config(tmp_path, "random", candidates=2, store=store, distill={"train": {"epochs": 2}})
    with pytest.raises(ConfigError, match="config key store: .* another distill/evaluation setting"):
        run_search(other, tmp_path / "b", FidelityFake())


class SizedFake(FidelityFake):
    def __init__(self, val_examples, val_attacked):
        super().__init__()
        self.sizes = {"val_examples": val_examples, "val_attacked": val_attacked}

    def validation_sizes(self):
        return self.sizes


def test_a_small_validation_set_is_refused_before_any_work(tmp_path):
    fake = SizedFake(156, 100)
    with pytest.raises(ConfigError, match=r"too small for config key selection.max_interval=0.03 .*needs 799 texts\): "
                                          r"val_natural_acc \+/-0.06\d on 156 texts \(raise distill.train.validation_fraction"):
        run_search(search_config(tmp_path, "random", candidates=2), tmp_path / "out", fake)
    assert fake.runs == []
    with pytest.raises(ConfigError, match="val_adversarial_acc .*evaluation.examples"):
        run_search(search_config(tmp_path, "random", candidates=2), tmp_path / "out", SizedFake(900, 100))


def test_a_wide_interval_can_be_accepted_loudly(tmp_path, caplog):
    config = search_config(tmp_path, "random", candidates=2, selection={"on_wide": "warn"})
    with caplog.at_level(logging.WARNING):
        run_search(config, tmp_path / "out", SizedFake(156, 100))
    assert "WIDE VALIDATION INTERVALS" in caplog.text
    entries = json.loads((tmp_path / "out" / "candidates.json").read_text())
    assert all(0 < e["interval_half_width"]["val_natural_acc"] < 0.035 for e in entries)  # measured on 900 texts
    pareto = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert pareto["validation_sizes"] == {"val_examples": 156, "val_attacked": 100}
    assert 0.06 < pareto["planned_half_width"]["val_natural_acc"] < 0.075
    # measured on 900 texts: accuracies near 0.5 are a little less precise than planned at 0.75
    assert pareto["wider_than_max_interval"] == [e["key"] for e in entries
                                                 if e["interval_half_width"]["val_natural_acc"] > 0.03]


def test_enough_validation_texts_pass(tmp_path):
    run_search(search_config(tmp_path, "random", candidates=2), tmp_path / "out", SizedFake(900, 900))


@pytest.mark.parametrize("change, message", [
    ({"strategy": {"name": "successive_halving", "options": {"eta": 1}}}, "config key strategy.options.eta must be >= 2"),
    ({"strategy": {"name": "successive_halving", "options": {"etta": 3}}}, "unknown config key strategy.options.etta"),
    ({"strategy": {"name": "successive_halving", "options": {"resource": "rows"}}}, "strategy.options.resource"),
    ({"strategy": {"name": "successive_halving", "options": {"min_budget": 0.5, "max_budget": 0.2}}},
     "strategy.options.min_budget=0.5 must be <= strategy.options.max_budget"),
    ({"strategy": {"name": "successive_halving", "options": {"min_budget": 0}}}, "strategy.options.min_budget"),
    ({"strategy": {"name": "successive_halving", "options": {"initial": 27}}},
     "strategy.options.initial=27 plans 39 evaluations .* candidates allows 13"),
    ({"strategy": {"name": "successive_halving", "options": {"resource": "epochs", "min_budget": 0.01}}},
     "strategy.options.min_budget / strategy.options.eta: two rungs train 1 epochs"),
    ({"candidates": 2}, "candidates=2 cannot hold one candidate through the 3 rungs"),
    ({"execution": {"backend": "dask"}}, "config key execution.backend must be one of local, ray"),
    ({"execution": {"max_parallel": 4}}, "execution.max_parallel needs execution.backend: ray"),
    ({"execution": {"ray_address": "auto"}}, "execution.ray_address needs execution.backend: ray"),
    ({"execution": {"backend": "ray", "max_parallel": 0}}, "execution.max_parallel must be >= 1"),
    ({"selection": {"on_wide": "ignore"}}, "selection.on_wide"),
    ({"selection": {"max_interval": 0}}, "selection.max_interval"),
    ({"final": {"seeds": [0]}}, "final.seeds must be at least 2 distinct seeds"),
    ({"final": {"attacks": ["fast_pwws"]}}, "final.attacks needs two attack families"),
    ({"final": {"margin": -0.1}}, "final.margin"),
    ({"final": {"distill": {"train": {"epochs": 0}}}}, "final.distill.train.epochs"),
])
def test_config_errors_name_the_key(tmp_path, change, message):
    change.setdefault("candidates", 13)
    with pytest.raises(ConfigError, match=message):
        halving_config(tmp_path, **change)


def test_shipped_multi_fidelity_config_is_valid():
    from pathlib import Path

    from fedrobust.search import load_search_config

    config = load_search_config(Path(__file__).resolve().parents[1] / "configs" / "search_asha.yaml")
    strategy = config.build_strategy()
    assert [r["candidates"] for r in strategy.plan(config.full_fidelity(), config.candidates)] == [27, 9, 3]
    assert strategy.front_fidelity(config.full_fidelity()) == config.full_fidelity() == Fidelity(4)
    assert config.distill_mapping["train"]["validation_fraction"] == 0.25 and config.evaluation.examples is None
    assert config.final.seeds == [0, 1, 2] and config.selection.max_interval == 0.03
