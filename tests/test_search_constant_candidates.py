"""A candidate that predicts one class on the validation texts cannot be flipped by any attack, so
its accuracy under attack equals its natural accuracy: the search must never let it win on
robustness (EVALUATION.md's constant-model rule), whatever `feasible` holds, and results stored by
an evaluator that did not measure the flag are measured again."""

import json

import pytest

from fedrobust.search import run_search
from fedrobust.search.store import RESULT_FILE
from tests.test_search_resume import FakeEvaluator, search_config

MAJORITY = 0.61  # a constant classifier's accuracy: above a val_natural_acc floor of 0.6


class ConstantsAmong(FakeEvaluator):
    """FakeEvaluator's scores, except that every second student predicts one class: natural and
    adversarial accuracy both at the majority rate, the most robust-looking of all."""

    def __call__(self, student, out_dir):
        metrics = super().__call__(student, out_dir)
        if len(self.calls) % 2 == 0:
            metrics.update(val_natural_acc=MAJORITY, val_adversarial_acc=MAJORITY, val_constant=1)
        return metrics


def test_constant_candidates_are_never_on_the_front(tmp_path):
    config = search_config(tmp_path, "random", candidates=8, feasible={"val_natural_acc": 0.6})
    result = run_search(config, tmp_path / "out", ConstantsAmong())
    constant = {e.key for e in result.entries if e.metrics["val_constant"] == 1}
    pareto = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert len(constant) == 4
    assert constant <= set(pareto["out_of_bounds"])
    assert not constant & {f["key"] for f in pareto["front"]} and pareto["front"]
    assert pareto["feasible"] == {"val_constant": 0.0, "val_natural_acc": 0.6}
    # without the rule the constant students would own the robust end of the front
    lifted = search_config(tmp_path, "random", candidates=8, feasible={"val_natural_acc": 0.6, "val_constant": 1})
    run_search(lifted, tmp_path / "lifted", ConstantsAmong())
    front = json.loads((tmp_path / "lifted" / "pareto.json").read_text())["front"]
    assert any(f["key"] in constant for f in front)


def test_a_result_stored_without_the_flag_is_measured_again(tmp_path, caplog):
    config = search_config(tmp_path, "random", candidates=3)
    run_search(config, tmp_path / "out", FakeEvaluator())
    older = sorted((tmp_path / "out" / "candidates").glob(f"*/{RESULT_FILE}"))[0]
    record = json.loads(older.read_text())
    del record["metrics"]["val_constant"]  # as an evaluator before the flag wrote it
    older.write_text(json.dumps(record))
    again = FakeEvaluator()
    run_search(config, tmp_path / "out", again)
    assert len(again.calls) == 1  # that one only
    assert "measured without val_constant" in caplog.text
    assert "val_constant" in json.loads(older.read_text())["metrics"]


def test_an_evaluator_without_the_flag_is_named(tmp_path):
    class Unflagged(FakeEvaluator):
        def __call__(self, student, out_dir):
            return {k: v for k, v in super().__call__(student, out_dir).items() if k != "val_constant"}

    with pytest.raises(ValueError, match="no 'val_constant', which a feasibility bound needs"):
        run_search(search_config(tmp_path, "random", candidates=2), tmp_path / "out", Unflagged())
