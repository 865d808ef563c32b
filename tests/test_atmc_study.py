"""simulations/atmc_study.py: ATMC-joint against post-hoc compression at equal bytes, end to end on
tiny pieces, and its equal-bytes planning."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.models.packed import grid_bytes
from tests.distill_helpers import prepare_tiny_reviews, save_hub_like_teacher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
import atmc_constraints  # noqa: E402
import atmc_study  # noqa: E402


def test_int8_sparsity_matches_the_bytes_of_the_low_bit_grid():
    shapes = [(300, 16), (32, 8), (8, 16), (32, 32), (2, 32)]
    s8 = atmc_study.int8_sparsity_at_bytes(shapes, 4, 0.5)
    target = sum(grid_bytes(s, 4, 0.5) for s in shapes)
    assert sum(grid_bytes(s, 8, s8) for s in shapes) <= target < sum(grid_bytes(s, 8, s8 - 0.01) for s in shapes)
    assert 0.5 < s8 < 0.9  # 8-bit codes need more zeros for the same bytes
    assert atmc_study.int8_sparsity_at_bytes(shapes, 8, 0.5) == pytest.approx(0.5, abs=0.01)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("atmc_study")
    data = prepare_tiny_reviews(root, reviews=160, users=8, public_fraction=0.5)
    hub_like = save_hub_like_teacher(root / "tiny_bert")
    run_teacher(data, root / "teacher", TeacherConfig(model=str(hub_like), epochs=2, lr=3e-3, max_length=16,
                                                      latency_examples=2, augment_copies=1))
    config = {
        "data": "unused", "teacher": "unused",
        "student": {"name": "fastgrnn", "hidden": 32, "embedding": {"kind": "pruned", "dim": 16, "num_embeddings": 120}},
        "objectives": {"ce": {}, "kd": {"temperature": 2.0}, "embedding_pgd": {"epsilon": 0.1, "steps": 1}},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.01},
        "compression": {"method": "atmc", "atmc": {"sparsity": 0.5, "rank_ratio": 0.5, "bits": 4, "rho": 0.05,
                                                   "rho_final": 5.0, "admm_epochs": 2, "admm_every": None,
                                                   "qat_epochs": 1}},
        "eval": {"latency_examples": 2},
    }
    (root / "atmc.yaml").write_text(yaml.safe_dump(config))
    return root


def test_the_study_compares_atmc_with_post_hoc_rows_at_equal_bytes(tiny, tmp_path):
    out = tmp_path / "study"
    argv = ["--config", str(tiny / "atmc.yaml"), "--data", str(tiny / "data"), "--teacher", str(tiny / "teacher"),
            "--out", str(out), "--attack-examples", "6", "--max-queries", "30"]
    summary = atmc_study.main(argv)
    assert set(summary["bytes"]) == {"dense", "atmc", "post_hoc_bits", "post_hoc_int8"}
    sizes = summary["bytes"]
    assert sizes["atmc"] < sizes["dense"] / 8
    # same r, s, b: the same bytes up to how global pruning spreads the zeros over the tensors
    assert abs(sizes["post_hoc_bits"] / sizes["atmc"] - 1) < 0.2
    assert abs(sizes["post_hoc_int8"] / sizes["atmc"] - 1) < 0.2 and summary["post_hoc_int8_sparsity"] > 0.5
    assert summary["threats"] == ["fast_deepwordbug@0.1", "fast_pwws@0.1"]
    for other in ("dense", "post_hoc_bits", "post_hoc_int8"):
        measures = summary["atmc_minus_other"][other]
        assert set(measures) == {"natural", "fast_deepwordbug@0.1", "fast_pwws@0.1"}
        for label, margin in measures.items():
            low, high = margin["margin_ci95_points"]
            assert margin["examples"] == (6 if label != "natural" else summary["test_examples"])
            assert low <= margin["margin_points"] <= high and 0 <= margin["mcnemar_exact_p"] <= 1
            assert margin["detected"] == (low > 0 or high < 0)
    dense = json.loads((out / "dense" / "metrics.json").read_text())["history"]
    for row in ("atmc", "post_hoc_bits", "post_hoc_int8"):  # each continues from the dense row's student
        metrics = json.loads((out / row / "metrics.json").read_text())
        assert metrics["dense_phase"] == str(out / "dense") and metrics["history"][:2] == dense
    from fedrobust.models import load_model

    report = atmc_constraints.constraint_report(load_model(out / "atmc" / "student")[0])  # as loaded from disk
    assert report["tensors"] and all(t["zero_share"] == 0.5 and t["nonzero_levels"] <= 14 for t in report["tensors"].values())
    assert report["low_rank"] and all(r["rank"] <= r["inner"] < min(r["shape"]) for r in report["low_rank"].values())
    table = (out / "table.md").read_text()
    assert "ATMC-joint r=0.5 s=0.5 4-bit" in table and "int8 @ATMC bytes" in table and "bytes_vs_atmc" in table
    packed = json.loads((out / "post_hoc_int8" / "student_packed" / "model.json").read_text())
    assert packed["weights"] == "packed" and packed["post_training_bits"] == 8
    assert len(list((out / "attacks").glob("*.csv"))) == 8

    # a rerun with --resume trains nothing again and gives the same table
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    again = atmc_study.main(argv + ["--resume"])
    assert again["bytes"] == sizes and stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}


def test_the_study_refuses_a_config_without_atmc(tiny, tmp_path):
    config = yaml.safe_load((tiny / "atmc.yaml").read_text())
    config["compression"] = {"prune_sparsity": 0.5}
    (tmp_path / "post_hoc.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit, match="the study needs atmc"):
        atmc_study.main(["--config", str(tmp_path / "post_hoc.yaml"), "--data", str(tiny / "data"),
                         "--teacher", str(tiny / "teacher"), "--out", str(tmp_path / "out")])
