"""simulations/distill_selection.py: the distill config's choices re-derived on validation texts,
with no test text read (end to end on tiny pieces), and its selection rule on hand-made scores."""

import csv
import json
import sys
from pathlib import Path

import pytest
import yaml

from fedrobust.data import FederatedDataset
from fedrobust.distill import config_from_mapping
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.errors import ConfigError, DataError
from tests.distill_helpers import prepare_tiny_reviews, save_hub_like_teacher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
import distill_selection  # noqa: E402


def test_the_rule_trades_at_most_the_tolerance_of_natural_accuracy_for_robustness():
    scores = [{"label": "accurate", "val_natural_acc": 0.80, "val_adversarial_acc": 0.10},
              {"label": "close", "val_natural_acc": 0.795, "val_adversarial_acc": 0.20},
              {"label": "robust", "val_natural_acc": 0.70, "val_adversarial_acc": 0.50}]
    assert distill_selection.select(scores)["label"] == "close"
    assert distill_selection.select(scores, tolerance=0.2)["label"] == "robust"
    assert distill_selection.select(scores, tolerance=0.0)["label"] == "accurate"


def test_ties_go_to_natural_accuracy_then_the_base():
    tied = [{"label": "a", "val_natural_acc": 0.8, "val_adversarial_acc": 0.2},
            {"label": "base", "val_natural_acc": 0.8, "val_adversarial_acc": 0.2, "is_base": True},
            {"label": "b", "val_natural_acc": 0.805, "val_adversarial_acc": 0.2}]
    assert distill_selection.select(tied)["label"] == "b"
    assert distill_selection.select(tied[:2])["label"] == "base"


def test_one_at_a_time_candidates_merge_options_equal_to_the_base():
    base = {"train": {"epochs": 4, "max_augmented_copies": 12}, "vocabulary": {"teacher_table": "contextual"},
            "objectives": {"ce": {}, "gradmask": {"start_epoch": 3}}}
    found = distill_selection.candidates(base, "one-at-a-time", 0.5)
    labels = [c["label"] for c in found]
    # no discrete_adversarial in this base: its confidence options are the base itself
    assert labels == ["base", "schedule=8ep_adv_from_5", "copies=0_copies", "copies=4_copies", "teacher_table=input"]
    assert found[0]["is_base"] and not any(c["is_base"] for c in found[1:])
    assert {k: found[0]["options"][k] for k in ("schedule", "copies", "teacher_table")} == {
        "schedule": "4ep_adv_from_3", "copies": "12_copies", "teacher_table": "contextual"}
    rows = [{**c, "val_natural_acc": 0.8, "val_adversarial_acc": 0.1} for c in found]
    chosen, _ = distill_selection.choose(rows, "one-at-a-time", 0.01)
    assert chosen == {"schedule": "4ep_adv_from_3", "copies": "12_copies", "teacher_table": "contextual"}  # no confidence
    assert found[0]["config"]["train"]["epochs"] == 2 and found[0]["config"]["objectives"]["gradmask"]["start_epoch"] == 2
    assert found[1]["config"]["train"]["epochs"] == 4 and found[1]["config"]["objectives"]["gradmask"]["start_epoch"] == 2
    assert len(distill_selection.candidates(base, "grid", 1.0)) == 2 * 3 * 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("selection")
    data = prepare_tiny_reviews(root, reviews=120, users=6, public_fraction=0.6)
    hub_like = save_hub_like_teacher(root / "tiny_bert")
    run_teacher(data, root / "teacher", TeacherConfig(model=str(hub_like), epochs=1, lr=3e-3, max_length=16,
                                                      latency_examples=2, augment_copies=1))
    base = {
        "data": "unused", "teacher": "unused", "seed": 0,
        "student": {"name": "bigru_attention", "hidden": 8, "embedding": {"kind": "factorized", "dim": 16, "rank": 4}},
        "vocabulary": {"teacher_table": "contextual"},
        "objectives": {"ce": {"weight": 1.0}, "kd": {"weight": 1.0}, "representation_infonce": {"weight": 0.1},
                       "attribution_alignment": {"weight": 0.5},
                       "embedding_pgd": {"weight": 1.0, "epsilon": 0.1, "steps": 1, "start_epoch": 3},
                       "gradmask": {"weight": 0.5, "top_k": 1, "start_epoch": 3},
                       "discrete_adversarial": {"weight": 1.0, "pool_size": 2000, "max_queries": 20,
                                                "min_teacher_confidence": 0.8, "start_epoch": 3}},
        "train": {"epochs": 4, "batch_size": 16, "lr": 0.01, "validation_fraction": 0.25, "max_augmented_copies": 12,
                  "keep_best_epoch": False, "threads": 1},  # 1: two jobs fit two cores
        "compression": {"int8": False}, "eval": {"latency_examples": 2},
    }
    (root / "base.yaml").write_text(yaml.safe_dump(base))
    return root


def _argv(tiny, out):
    return ["--config", str(tiny / "base.yaml"), "--data", str(tiny / "data"), "--teacher", str(tiny / "teacher"),
            "--out", str(out), "--epochs-scale", "0.5", "--set", "objectives.discrete_adversarial.pool_size=6",
            "--attack-examples", "6"]


@pytest.fixture(scope="module")
def selection(tiny):
    out = tiny / "selection"
    return out, distill_selection.main(_argv(tiny, out))  # fails inside if any test text was read


def test_selection_runs_on_validation_only_and_resumes(tiny, selection, monkeypatch):
    out, result = selection
    rows = result["rows"]
    assert [r["label"] for r in rows][0] == "base" and len(rows) == 6  # base + 8 epochs, 0/4 copies, conf 0, input
    assert all(0 <= r["val_adversarial_acc"] <= r["val_natural_acc"] + 1e-9 <= 1 + 1e-9 for r in rows)
    public_train = len(FederatedDataset.load(tiny / "data").public().train_texts)
    assert {r["validation_examples"] for r in rows} == {round(0.25 * public_train)}  # train.validation_fraction
    selected = yaml.safe_load((out / "selected.yaml").read_text())
    config = config_from_mapping(selected)  # a valid distill config for distill_study.py --config
    assert config.train.epochs in (2, 4) and config.objectives["discrete_adversarial"]["pool_size"] == 6
    assert "Rule: within 1 point(s)" in (out / "selection.md").read_text()
    assert len((out / "selection.csv").read_text().strip().splitlines()) == 7

    # a rerun reuses every finished candidate; a read of test data fails before any selection is written
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("candidates/*/metrics.json")}
    for name in ("selection.csv", "selection.md", "selected.yaml"):
        (out / name).unlink()
    load_inputs = distill_selection.load_inputs

    def leaking(config):
        FederatedDataset.load(config.data).public().test_texts
        return load_inputs(config)

    monkeypatch.setattr(distill_selection, "load_inputs", leaking)
    with pytest.raises(DataError, match="the distillation selection read test data of 1 split owner"):
        distill_selection.main(_argv(tiny, out))
    assert not (out / "selected.yaml").exists()
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("candidates/*/metrics.json")}
    assert json.loads(next(out.glob("candidates/base/selection_scores.json")).read_text())["scoring"]["examples"] == 6
    monkeypatch.undo()
    assert distill_selection.main(_argv(tiny, out))["chosen"] == result["chosen"]  # all reused, same selection
    assert (out / "selected.yaml").is_file()


def test_parallel_training_must_fit_the_cores():
    from fedrobust.seeding import check_parallel_training

    check_parallel_training(2, 1, cores=2)
    check_parallel_training(1, 4, cores=2)  # one job is never refused
    with pytest.raises(ConfigError, match="2 jobs of 2 torch threads need 4 cores and this machine has 2"):
        check_parallel_training(2, 2, cores=2)


def test_parallel_jobs_give_the_same_scores_and_report_their_workers_test_reads(tiny, selection, monkeypatch):
    _, sequential = selection
    out = tiny / "selection_parallel"
    parallel = distill_selection.main(_argv(tiny, out) + ["--jobs", "2"])
    assert [r["label"] for r in parallel["rows"]] == [r["label"] for r in sequential["rows"]]
    assert [(r["val_natural_acc"], r["val_adversarial_acc"]) for r in parallel["rows"]] \
        == [(r["val_natural_acc"], r["val_adversarial_acc"]) for r in sequential["rows"]]
    assert parallel["chosen"] == sequential["chosen"]

    # a worker's recorder is its own: the worker returns what it read for the parent's record
    def leaking(candidate, out, validation, scoring, threat):
        FederatedDataset.load(tiny / "data").public().test_texts
        return {"val_natural_acc": 1.0}

    monkeypatch.setattr(distill_selection, "run_candidate", leaking)
    assert distill_selection.run_candidate_recorded({}, out, ([], []), {}, None, 1) == ({"val_natural_acc": 1.0}, {"public"})


def test_the_study_reports_the_selected_config_on_test_with_paired_margins(tiny, selection, tmp_path):
    import distill_study

    out, _ = selection
    summary = distill_study.main([
        "--config", str(out / "selected.yaml"), "--data", str(tiny / "data"), "--teacher", str(tiny / "teacher"),
        "--out", str(tmp_path / "study"), "--rows", "student KD", "student KD+FM", "student full", "--attack-examples", "8",
        "--max-queries", "50", "--explain-examples", "12"])
    assert summary["attacks"] == ["fast_deepwordbug@0.1", "fast_pwws@0.1"]
    for margin in summary["full_vs_kd_margins"].values():
        low, high = margin["margin_ci95_points"]
        assert margin["examples"] == 8 and low <= margin["margin_points"] <= high
        assert margin["detected"] == (low > 0 or high < 0)
    assert summary["full_vs_kd_under_attack"] == summary["full_vs_kd_margins"]["fast_deepwordbug@0.1"]
    assert summary["full_natural_gap_points"] == pytest.approx(
        100 * (summary["teacher_natural_acc"] - summary["full_natural_acc"]))
    table = (tmp_path / "study" / "table.csv").read_text().splitlines()
    assert "adversarial_acc[fast_pwws@0.1]" in table[0] and "val_natural_acc" in table[0] and len(table) == 6

    # explanations: every student against the teacher, every model (the teacher too) for faithfulness
    with open(tmp_path / "study" / "table.csv") as handle:
        rows = {r["row"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {"teacher", "student KD", "student KD+FM", "student full", "student full + int8"}
    assert rows["student full"]["teacher_attribution"] == rows["student KD"]["teacher_attribution"] == "grad_x_input"
    assert rows["teacher"]["teacher_attribution"] == ""
    for label, row in rows.items():
        for mode in ("deletion", "insertion"):
            low, mean, high = (float(row[f"{mode}_auc_diff{s}"]) for s in ("_ci95_low", "", "_ci95_high"))
            assert low <= mean <= high
            assert mean == pytest.approx(float(row[f"{mode}_auc"]) - float(row[f"{mode}_auc_random"]), abs=2e-4)
        if label == "teacher":
            assert row["expl_spearman"] == row["expl_top5"] == ""
        else:
            for column in ("expl_spearman", "expl_top5"):
                low, mean, high = (float(row[f"{column}{s}"]) for s in ("_ci95_low", "", "_ci95_high"))
                assert low <= mean <= high and -1 <= mean <= 1
    explanations = summary["explanations"]
    assert explanations["texts"] == 12 and set(explanations["vs_kd"]) == {"student KD+FM", "student full"}
    margin = explanations["vs_kd"]["student full"]["spearman"]
    assert margin["texts"] <= 12 and margin["ci95"][0] <= margin["mean"] <= margin["ci95"][1]
    assert explanations["rows"]["teacher"].keys() == {"faithfulness"}
    assert "ρ with teacher" in (tmp_path / "study" / "explanations.md").read_text()


def test_the_study_trains_rows_at_once_and_resumes_only_rows_of_the_same_config(tiny, selection, tmp_path):
    import distill_study

    out, _ = selection

    def study(folder, *extra):
        distill_study.main(["--config", str(out / "selected.yaml"), "--data", str(tiny / "data"),
                            "--teacher", str(tiny / "teacher"), "--out", str(folder), "--rows", "student CE",
                            "student KD", "--skip-attack", "--skip-explain", *extra])
        with open(folder / "table.csv") as handle:
            return {r["row"]: (r["natural_acc"], r["natural_acc_clients"], r["val_natural_acc"]) for r in csv.DictReader(handle)}

    one_by_one = study(tmp_path / "sequential")
    assert study(tmp_path / "parallel", "--jobs", "2") == one_by_one  # two spawned trainings, the same students
    # rows trained before with the same config are copied, not trained
    assert study(tmp_path / "reused", "--reuse", str(tmp_path / "sequential")) == one_by_one
    for row in ("student_ce", "student_kd"):
        assert (tmp_path / "reused" / row / "metrics.json").stat().st_mtime_ns \
            == (tmp_path / "sequential" / row / "metrics.json").stat().st_mtime_ns

    stamps = {row: (tmp_path / "parallel" / row / "metrics.json").stat().st_mtime_ns for row in ("student_ce", "student_kd")}
    assert study(tmp_path / "parallel", "--resume") == one_by_one
    assert stamps == {row: (tmp_path / "parallel" / row / "metrics.json").stat().st_mtime_ns for row in stamps}
    # another config: --resume trains again the rows it changes (both here), not reusing stale students
    study(tmp_path / "parallel", "--resume", "--epochs", "1")
    assert all((tmp_path / "parallel" / row / "metrics.json").stat().st_mtime_ns != stamp for row, stamp in stamps.items())
