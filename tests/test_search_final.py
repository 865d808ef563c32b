"""`fedrobust search-final`: the front and the hand-designed student re-trained per seed on tiny
pieces, scored on test under two attack families, compared in pairs and judged; a rerun reuses."""

import json

import pytest

from fedrobust.cli.main import main as cli_main
from fedrobust.data.reads_of_test_texts import record_test_reads
from fedrobust.errors import ConfigError
from fedrobust.search import config_from_mapping, run_search
from fedrobust.search.final import search_final
from tests.test_search_resume import tiny_run  # noqa: F401  (the module's tiny data and teacher)

STUDENT = {"name": "prado", "projection_dim": 16, "dim": 8, "channels": 8}


def tiny_search_mapping(run_dir):
    """A successive-halving search on the tiny data: 4 candidates at a quarter of the data, 2 at half, 1 at all."""
    return {
        "distill": {
            "data": str(run_dir / "data"), "teacher": str(run_dir / "teacher"), "student": STUDENT,
            "objectives": {"ce": {"weight": 1.0}, "kd": {"weight": 1.0},
                           "embedding_pgd": {"weight": 1.0, "epsilon": 0.1, "steps": 1, "start_epoch": 2},
                           "discrete_adversarial": {"weight": 1.0, "pool_size": 8, "max_queries": 20, "start_epoch": 2}},
            "train": {"epochs": 2, "batch_size": 16, "lr": 0.01, "validation_fraction": 0.2, "threads": 1},
            "compression": {"int8": False}},
        "space": {"prado": {"projection_dim": [16, 32], "dim": [8, 16], "channels": [8, 16],
                            "ngram_sizes": [[1, 2], [1, 2, 3]]}},
        "candidates": 7, "strategy": {"name": "successive_halving", "options": {"eta": 2, "min_budget": 0.25}},
        "evaluation": {"examples": 6, "latency_examples": 3, "test_examples": 6},
        "selection": {"on_wide": "warn"},  # a tiny validation set: intervals far wider than 0.03
        "feasible": {"val_constant": 1},  # 2 epochs on the tiny data: most students predict one class
        "final": {"seeds": [0, 1], "examples": 6,
                  "attacks": [{"attack": "fast_deepwordbug", "word_budgets": [0.25], "max_queries": 50},
                              {"attack": "fast_pwws", "word_budgets": [0.25], "max_queries": 50}]},
        "seed": 1,
    }


def test_search_final_retrains_scores_judges_and_reuses(tiny_run, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="pareto.json not found"):
        search_final(out)
    with record_test_reads() as reads:
        result = run_search(config_from_mapping(tiny_search_mapping(tiny_run)), out)
    assert reads == set() and len(result.entries) == 7
    with pytest.raises(ConfigError, match="search-final may change final.\\*, execution.\\* and threads only"):
        search_final(out, {"distill.train.epochs": 9})

    with record_test_reads() as reads:
        assert cli_main(["search-final", str(out), "--seeds", "0", "1"]) == 0
    assert reads == {"public"}  # the final evaluation reads the public test split
    printed = capsys.readouterr().out
    final = json.loads((out / "final_seeds.json").read_text())
    assert final["seeds"] == [0, 1] and final["attacks"] == ["fast_deepwordbug@0.25", "fast_pwws@0.25"]
    assert final["attacked_texts"] == 6 and final["test_texts"] > 6
    reference, *searched = final["students"]
    assert reference["role"] == "reference" and reference["student"] == STUDENT and "verdict" not in reference
    assert searched and {s["key"] for s in searched} <= {s["key"] for s in final["students"]}
    for student in final["students"]:
        assert len(student["test_natural_acc"]["per_seed"]) == 2
        assert set(student["test_robust_acc"]) == set(final["attacks"])
    for student in searched:
        assert set(student["verdict"]) == {"at_least_as_accurate", "more_robust", "as_robust", "smaller", "wins"}
        assert student["natural"]["interval"][0] <= student["natural"]["mean"] <= student["natural"]["interval"][1]
    assert final["verdict"] in printed and final["rule"].startswith("A searched student wins when")
    assert final["verdict"].startswith(("No searched student beats", "Searched student(s) beating"))

    scores = sorted((out / "final").glob("*/seed*/scores.json"))
    assert len(scores) == 2 * len(final["students"])
    stamps = [p.stat().st_mtime_ns for p in scores]
    again = search_final(out, {"final.seeds": [0, 1]})
    assert [p.stat().st_mtime_ns for p in scores] == stamps  # nothing re-trained
    assert again["students"] == final["students"]


def test_the_verdict_states_the_budget_it_trained_at():
    from fedrobust.search.final import _budget

    class Config:
        final = type("Final", (), {"distill": None})()
        distill = {"train": {"epochs": 4, "use_augmented": False, "max_augmented_copies": 12}}

    assert _budget(Config(), [0, 1]) == "the full distill budget: 4 epochs, no teacher-labelled copies, seeds 0, 1"
    Config.distill = {"train": {"epochs": 4, "max_augmented_copies": 12}}
    assert "12 teacher-labelled copies per text" in _budget(Config(), [0])
