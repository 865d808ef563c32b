"""`fedrobust evaluate` end to end on a tiny saved student and a tiny prepared dataset."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from fedrobust.cli.main import main
from fedrobust.data.prepare import DataConfig, prepare
from fedrobust.models.io import save_model
from tests.data_helpers import synthetic_rows, write_csv
from tests.models_helpers import small_student, tokenizer


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate")
    source = write_csv(root / "reviews.csv", synthetic_rows(n=240, num_labels=2, num_owners=12))
    prepare(DataConfig(source=f"csv:{source}", text_column="review", label_column="stars", owner_column="who",
                       min_samples=4, public_fraction=0.3), root / "data")
    save_model(small_student("bigru_attention", seed=0), tokenizer(), root / "student")
    save_model(small_student("bigru_attention", seed=1), tokenizer(), root / "other")
    return {"root": root, "data": root / "data", "student": root / "student", "other": root / "other"}


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_evaluate_public_split_writes_examples_and_summary(workspace) -> None:
    out = workspace["root"] / "public_out"
    code = main([
        "evaluate", "--model", str(workspace["student"]), "--data", str(workspace["data"]),
        "--attack", "fast_deepwordbug", "--examples", "12", "--compare-to", str(workspace["other"]),
        "--out", str(out),
    ])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("natural_acc", "adversarial_acc", "attack_success_rate", "examples_per_s", "mean_queries",
                "adversarial_acc_ci95", "natural_acc_ci95", "attack_success_rate_ci95"):
        assert key in summary
    assert not {"clean_acc", "adv_acc", "num_examples"} & set(summary)
    assert summary["n_attacked"] == 12 and summary["attack"] == "fast_deepwordbug"
    assert 0.0 <= summary["adversarial_acc"] <= summary["natural_acc"] <= 1.0
    rows = _rows(out / "examples.csv")
    assert len(rows) == 24  # 12 texts at each of the default word budgets, 10% and 25%
    assert sorted(summary["threats"]) == ["fast_deepwordbug@0.1", "fast_deepwordbug@0.25"]
    assert [r["text"] for r in rows if r["threat"] == "fast_deepwordbug@0.1"] == [
        r["text"] for r in rows if r["threat"] == "fast_deepwordbug@0.25"]
    assert summary["threats"]["fast_deepwordbug@0.1"]["adversarial_acc"] >= summary["threats"]["fast_deepwordbug@0.25"]["adversarial_acc"]
    assert {"text", "label", "clean_pred", "adv_pred", "result", "queries", "perturbed_fraction", "perturbed_text"} <= set(rows[0])
    assert {r["result"] for r in rows} <= {"successful", "failed", "skipped"}
    agreement = summary["explanation_agreement"]
    assert agreement["num_examples"] == 12 and -1.0 <= agreement["mean_spearman"] <= 1.0
    assert len(_rows(out / "explanation_agreement.csv")) == 12
    assert agreement["attribution"] == "grad_x_input"


def test_evaluate_explains_both_models_by_the_chosen_attribution(workspace) -> None:
    out = workspace["root"] / "ig_out"
    assert main([
        "evaluate", "--model", str(workspace["student"]), "--data", str(workspace["data"]), "--examples", "4",
        "--word-budgets", "0.1", "--compare-to", str(workspace["student"]), "--attribution", "integrated_gradients",
        "--out", str(out),
    ]) == 0
    agreement = json.loads((out / "summary.json").read_text())["explanation_agreement"]
    assert agreement["attribution"] == "integrated_gradients" and agreement["mean_spearman"] == pytest.approx(1.0)


def test_evaluate_clients_split_writes_per_client_rows(workspace) -> None:
    out = workspace["root"] / "clients_out"
    code = main([
        "evaluate", "--model", str(workspace["student"]), "--data", str(workspace["data"]),
        "--attack", "fast_hotflip", "--split", "clients", "--per-client", "2", "--max-clients", "3",
        "--max-queries", "50", "--word-budgets", "0.25", "--out", str(out),
    ])
    assert code == 0
    per_client = _rows(out / "per_client.csv")
    assert len(per_client) == 3 and "adversarial_acc_ci95_low" in per_client[0]
    rows = _rows(out / "examples.csv")
    assert len(rows) <= 6 and {r["client_id"] for r in rows} == {r["client_id"] for r in per_client}
    assert max(int(r["queries"]) for r in rows) <= 50


def test_a_zero_word_budget_leaves_accuracy_under_attack_at_natural_accuracy(workspace) -> None:
    out = workspace["root"] / "zero_out"
    assert main(["evaluate", "--model", str(workspace["student"]), "--data", str(workspace["data"]),
                 "--attack", "fast_pwws", "--word-budgets", "0", "--examples", "10", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())["threats"]["fast_pwws@0"]
    assert summary["adversarial_acc"] == summary["natural_acc"] and summary["num_successful"] == 0


def test_evaluate_reports_bad_options_in_one_line(workspace, capsys) -> None:
    base = ["evaluate", "--model", str(workspace["student"]), "--data", str(workspace["data"]), "--out", str(workspace["root"] / "bad")]
    assert main(base + ["--attack", "textattack:textfooler"]) == 2
    assert "Universal Sentence Encoder" in capsys.readouterr().err
    assert main(base + ["--attack", "nope"]) == 2
    assert "unknown attack 'nope'" in capsys.readouterr().err
    assert main(base + ["--attack", "fast_pwws", "--word-budgets", "2"]) == 2
    assert "word_budgets are fractions of words in [0, 1]" in capsys.readouterr().err
    assert main(base + ["--split", "clients", "--examples", "3"]) == 2
    assert "--per-client" in capsys.readouterr().err
