"""A killed search resumes without re-evaluating finished candidates (and replays the same
trajectory); the real evaluator, the CLI and the export run once on tiny pieces."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fedrobust.cli.main import main as cli_main
from fedrobust.data.reads_of_test_texts import record_test_reads
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.errors import ConfigError
from fedrobust.models import load_model
from fedrobust.models.registry import build_student
from fedrobust.search import config_from_mapping, run_search
from fedrobust.search.space import student_key
from tests.distill_helpers import prepare_tiny_reviews, save_hub_like_teacher

SMALL_SPACE = {
    "bigru_attention": {"embedding.kind": ["hashed", "factorized"], "embedding.dim": [8, 16], "embedding.rank": [4, 8],
                        "embedding.num_buckets": [64, 128], "hidden": [8, 16]},
    "prado": {"projection_dim": [16, 32], "dim": [8, 16], "channels": [8, 16], "ngram_sizes": [[1, 2], [1, 2, 3]]},
}


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, not even `except Exception` handlers."""


class FakeEvaluator:
    """Cheap deterministic scores from the real student's size; optionally dies on call ``die_at``."""

    def __init__(self, die_at: int | None = None, sleep_s: float = 0.0) -> None:
        self.calls: list[str] = []
        self.die_at, self.sleep_s = die_at, sleep_s

    def __call__(self, student, out_dir):
        time.sleep(self.sleep_s)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "training.log").write_text("started")  # a half-done evaluation leaves a folder behind
        if self.die_at is not None and len(self.calls) + 1 == self.die_at:
            raise Killed()
        self.calls.append(student_key(student))
        config = dict(student)
        params = build_student(config.pop("name"), num_labels=2, vocab_size=500, **config).num_parameters()
        noise = random.Random(student_key(student)).random()
        return {"val_natural_acc": 0.5 + 0.3 * noise, "val_adversarial_acc": 0.4 * (1 - noise) + params * 1e-6,
                "params": params, "val_constant": 0}


def search_config(tmp_path, strategy, **changes):
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({
        "data": "unused", "teacher": "unused", "student": {"name": "prado", "dim": 8},
        "objectives": {"ce": {"weight": 1.0}},
    }))
    options = {"population": 4, "offspring": 3} if strategy == "evolution" else {"batch": 3}
    mapping = {"distill": {"extends": str(base), **changes.pop("distill", {})}, "space": SMALL_SPACE, "candidates": 11, "reference": False,
               "strategy": {"name": strategy, "options": options}, "seed": 3,
               "objectives": [{"metric": "val_natural_acc", "goal": "max"},
                              {"metric": "val_adversarial_acc", "goal": "max"},
                              {"metric": "params", "goal": "min"}]}
    mapping.update(changes)
    return config_from_mapping(mapping)


@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_killed_search_resumes_without_reevaluating(tmp_path, strategy):
    config = search_config(tmp_path, strategy)
    uninterrupted = FakeEvaluator()
    whole = run_search(config, tmp_path / "whole", uninterrupted)
    assert len(whole.entries) == 11 and len(set(uninterrupted.calls)) == 11

    dying = FakeEvaluator(die_at=7)
    with pytest.raises(Killed):
        run_search(config, tmp_path / "killed", dying)
    finished = dying.calls
    assert len(finished) == 6
    assert len(json.loads((tmp_path / "killed" / "candidates.json").read_text())) == 6

    resumed_evaluator = FakeEvaluator()
    resumed = run_search(config, tmp_path / "killed", resumed_evaluator)
    assert not set(resumed_evaluator.calls) & set(finished)  # nothing finished is evaluated again
    assert len(resumed_evaluator.calls) == 5 and resumed.evaluated_now == 5
    assert [e.key for e in resumed.entries] == [e.key for e in whole.entries]  # same trajectory
    assert [e["key"] for e in resumed.front] == [e["key"] for e in whole.front]
    pareto = json.loads((tmp_path / "killed" / "pareto.json").read_text())
    assert [e["key"] for e in pareto["front"]] == [e["key"] for e in whole.front]
    assert (tmp_path / "killed" / "pareto.png").stat().st_size > 0

    again = FakeEvaluator()
    assert run_search(config, tmp_path / "killed", again).evaluated_now == 0 and again.calls == []


SUBPROCESS_SEARCH = """
import sys
from pathlib import Path
from tests.test_search_resume import FakeEvaluator, search_config
from fedrobust.search import run_search
tmp = Path(sys.argv[1])
run_search(search_config(tmp, "evolution"), tmp / "out", FakeEvaluator(sleep_s=0.3))
"""


def test_search_killed_by_sigkill_resumes(tmp_path):
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-c", SUBPROCESS_SEARCH, str(tmp_path)], cwd=root)
    candidates = tmp_path / "out" / "candidates"
    deadline = time.time() + 60
    while len(list(candidates.glob("*/result.json"))) < 4 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.parent.name for p in candidates.glob("*/result.json")}
    assert 4 <= len(finished) < 11

    resumed_evaluator = FakeEvaluator()
    resumed = run_search(search_config(tmp_path, "evolution"), tmp_path / "out", resumed_evaluator)
    assert not set(resumed_evaluator.calls) & finished
    assert len(resumed_evaluator.calls) == 11 - len(finished)
    whole = run_search(search_config(tmp_path, "evolution"), tmp_path / "whole", FakeEvaluator())
    assert [e.key for e in resumed.entries] == [e.key for e in whole.entries]


def test_a_larger_budget_continues_the_same_search(tmp_path):
    small = run_search(search_config(tmp_path, "evolution", candidates=7), tmp_path / "out", FakeEvaluator())
    more = FakeEvaluator()
    large = run_search(search_config(tmp_path, "evolution", candidates=11), tmp_path / "out", more)
    assert [e.key for e in large.entries[:7]] == [e.key for e in small.entries]
    assert len(more.calls) == 4


def test_evolution_keeps_out_of_bounds_candidates_off_the_front(tmp_path):
    result = run_search(search_config(tmp_path, "evolution", feasible={"val_natural_acc": 0.65}), tmp_path / "out",
                        FakeEvaluator())
    assert result.front and all(e["metrics"]["val_natural_acc"] >= 0.65 for e in result.front)
    pareto = json.loads((tmp_path / "out" / "pareto.json").read_text())
    low = {e.key for e in result.entries if e.metrics["val_natural_acc"] < 0.65}
    assert set(pareto["out_of_bounds"]) == low


def test_resuming_with_another_evaluation_setting_is_refused(tmp_path):
    run_search(search_config(tmp_path, "random", candidates=2), tmp_path / "out", FakeEvaluator())
    changed = search_config(tmp_path, "random", candidates=2, distill={"train": {"epochs": 2}})
    with pytest.raises(ConfigError, match="another distill/evaluation setting"):
        run_search(changed, tmp_path / "out", FakeEvaluator())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    prepare_tiny_reviews(root, reviews=120, users=6, public_fraction=0.6)
    hub_like = save_hub_like_teacher(root / "tiny_bert")
    run_teacher(root / "data", root / "teacher",
                TeacherConfig(model=str(hub_like), epochs=1, lr=3e-3, max_length=16, latency_examples=5, augment_copies=1))
    return root


def test_real_search_cli_writes_front_exports_and_resumes(tiny_run, tmp_path, capsys):
    """The real evaluator: distillation with adversarial objectives, attack on validation texts."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({
        "data": str(tiny_run / "data"), "teacher": str(tiny_run / "teacher"),
        "student": {"name": "prado", "projection_dim": 16, "dim": 8, "channels": 8},
        "objectives": {"ce": {"weight": 1.0}, "kd": {"weight": 1.0},
                       "embedding_pgd": {"weight": 1.0, "epsilon": 0.1, "steps": 1, "start_epoch": 2},
                       "discrete_adversarial": {"weight": 1.0, "pool_size": 8, "max_queries": 20, "start_epoch": 2}},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.01, "validation_fraction": 0.2},
    }))
    (tmp_path / "search.yaml").write_text(yaml.safe_dump({
        "distill": {"extends": "base.yaml"}, "space": {"prado": SMALL_SPACE["prado"]}, "candidates": 3,
        "strategy": {"name": "evolution", "options": {"population": 2, "offspring": 1}},
        "evaluation": {"examples": 6, "latency_examples": 3, "test_examples": 6},
        "selection": {"on_wide": "warn"},  # 13 validation texts: far from a +/-0.03 interval
        "feasible": {"val_constant": 1},  # 2 epochs on 72 texts: most students predict one class
        "export": {"prefer": "val_adversarial_acc"},
    }))
    out, exported = tmp_path / "out", tmp_path / "chosen"
    argv = ["search", "--config", str(tmp_path / "search.yaml"), "--out", str(out), "--export", str(exported)]
    with record_test_reads() as reads:
        assert cli_main(argv) == 0
    assert reads == set()  # the search, the reference and the export read no test text
    assert "3 candidates (4 evaluated now" in capsys.readouterr().out  # 3 + the hand-designed reference
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["front"] and pareto["reference"]["student"]["projection_dim"] == 16
    for entry in pareto["front"] + [pareto["reference"]]:
        assert 0.0 <= entry["metrics"]["val_adversarial_acc"] <= entry["metrics"]["val_natural_acc_attacked"] <= 1.0
        assert 0.0 <= entry["metrics"]["val_natural_acc"] <= 1.0
        assert entry["metrics"]["val_attacked"] == 6 and entry["metrics"]["params"] > 0
        share = entry["metrics"]["val_top_class_share"]  # the constant-model flag from the same predictions
        assert 0.5 <= share <= 1.0 and entry["metrics"]["val_constant"] == int(share >= 0.9)
        assert "test" not in entry
    assert pareto["exported"]["key"] in {e["key"] for e in pareto["front"]}
    model, tok = load_model(exported)
    assert model.registry_name == "prado" and tok.max_length == 16
    assert (out / "pareto.png").stat().st_size > 0

    # the final evaluation, a separate phase: the selection on test, and nothing else read
    with record_test_reads() as reads:
        assert cli_main(["search-test", str(out)]) == 0
    assert reads == {"public"} and "test_natural" in capsys.readouterr().out
    final = json.loads((out / "final_test.json").read_text())
    assert final["exported"] == pareto["exported"]["key"]
    assert [e["key"] for e in final["front"]] == [e["key"] for e in pareto["front"]]
    for entry in final["front"] + [final["reference"]]:
        assert 0.0 <= entry["test"]["test_natural_acc"] <= 1.0 and entry["test"]["test_attacked"] == 6

    with record_test_reads() as reads:
        assert cli_main(argv) == 0
    assert reads == set() and "3 candidates (0 evaluated now" in capsys.readouterr().out


def test_search_test_needs_a_finished_search(tmp_path, capsys):
    (tmp_path / "search_config.yaml").write_text("candidates: 1\n")
    assert cli_main(["search-test", str(tmp_path)]) == 2
    assert "pareto.json not found: the search has not finished" in capsys.readouterr().err
