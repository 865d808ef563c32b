"""simulations/distill_seeds.py: the per-seed summary of distillation studies."""

import csv
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
import distill_seeds  # noqa: E402


def write_study(folder: Path, seed: int, full_natural: float, full_clients: float, margin: float,
                explained: bool = False) -> Path:
    folder.mkdir(parents=True)
    rows = [
        {"row": "teacher", "natural_acc": 0.81, "natural_acc_clients": 0.80, "adversarial_acc": 0.05},
        {"row": "student KD", "natural_acc": 0.75, "natural_acc_clients": 0.75, "adversarial_acc": 0.02},
        {"row": "student full", "natural_acc": full_natural, "natural_acc_clients": full_clients, "adversarial_acc": 0.1},
    ]
    if explained:  # the teacher's own row has no agreement with itself, only faithfulness
        for row, rho, deletion in zip(rows, ["", 0.10, 0.10 + seed / 10], [-0.3, -0.2, -0.25]):
            row.update(expl_spearman=rho, deletion_auc_diff=deletion)
    with open(folder / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {
        "seed": seed,
        "full_natural_gap_points": 100 * (0.81 - full_natural),
        "full_natural_gap_points_clients": 100 * (0.80 - full_clients),
        "full_vs_kd_under_attack": {"margin_points": margin, "mcnemar_exact_p": 0.01},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_seed_rows_and_their_aggregates(tmp_path, capsys, monkeypatch):
    studies = [write_study(tmp_path / "s0", 0, 0.78, 0.76, 8.0), write_study(tmp_path / "s1", 1, 0.76, 0.74, 4.0),
               write_study(tmp_path / "s2", 2, 0.77, 0.77, 6.0)]
    monkeypatch.setattr(sys, "argv", ["distill_seeds.py", *map(str, studies)])
    distill_seeds.main()
    table = json.loads((tmp_path / "seeds.json").read_text())
    assert [r["seed"] for r in table[:3]] == [0, 1, 2]
    assert table[1]["gap_points"] == 5.0 and table[1]["gap_points_clients"] == 6.0
    mean, median = table[3], table[4]
    assert mean["study"] == "mean" and mean["gap_points_clients"] == pytest.approx(100 * (0.80 - 0.7567), abs=0.01)
    assert median["margin_vs_kd"] == 6.0 and table[5]["natural_acc"] == 0.76 and table[6]["natural_acc"] == 0.78
    assert "| mean |" in capsys.readouterr().out


def test_explanation_columns_are_summarised_and_missing_ones_are_nan(tmp_path):
    studies = [write_study(tmp_path / f"s{k}", k, 0.78, 0.76, 8.0, explained=True) for k in range(3)]
    rows = [distill_seeds.seed_row(d) for d in studies]
    assert [r["expl_spearman"] for r in rows] == pytest.approx([0.1, 0.2, 0.3])
    assert rows[0]["expl_spearman_kd"] == 0.1 and rows[0]["deletion_auc_diff"] == -0.25
    assert distill_seeds.aggregate(rows)[0]["expl_spearman"] == pytest.approx(0.2)
    unexplained = distill_seeds.seed_row(write_study(tmp_path / "plain", 3, 0.78, 0.76, 8.0))
    assert unexplained["expl_spearman"] != unexplained["expl_spearman"]  # NaN: not measured, not 0


def test_a_folder_without_the_full_row_is_refused(tmp_path):
    study = write_study(tmp_path / "s0", 0, 0.78, 0.76, 8.0)
    (study / "table.csv").write_text("row,natural_acc,natural_acc_clients\nteacher,0.8,0.8\n")
    with pytest.raises(SystemExit, match="no 'student full' row"):
        distill_seeds.seed_row(study)
    with pytest.raises(SystemExit, match="no summary.json"):
        distill_seeds.seed_row(tmp_path / "missing")


def test_the_explanation_table_gives_every_variant_over_seeds(tmp_path, monkeypatch, capsys):
    studies = [write_study(tmp_path / f"s{k}", k, 0.78, 0.76, 8.0, explained=True) for k in range(3)]
    table = {line["row"]: line for line in distill_seeds.explanation_table(studies)}
    assert list(table) == ["teacher", "student KD", "student full"]
    full, kd, teacher = table["student full"], table["student KD"], table["teacher"]
    assert full["expl_spearman"] == pytest.approx(0.2) and full["expl_spearman_sd"] == pytest.approx(0.1)
    assert full["expl_spearman_per_seed"] == "+0.100 / +0.200 / +0.300"
    assert full["spearman_vs_kd"] == pytest.approx(0.1) and kd["spearman_vs_kd"] == 0
    assert teacher["expl_spearman"] != teacher["expl_spearman"]  # the teacher is not compared with itself
    assert teacher["expl_top5_chance"] != teacher["expl_top5_chance"] and full["expl_top5_chance"] != full["expl_top5_chance"]
    for k, study in enumerate(studies):  # the chance overlap comes from the token counts of the compared texts
        (study / "explanations").mkdir()
        (study / "explanations" / "student_full_agreement.csv").write_text(
            "example_index,target,num_tokens,spearman,top5_overlap\n0,1,4,0.5,1.0\n1,0,20,0.1,0.4\n2,0,10,nan,nan\n")
    full = {line["row"]: line for line in distill_seeds.explanation_table(studies)}["student full"]
    assert full["expl_top5_chance"] == pytest.approx((1.0 + 5 / 20) / 2)
    assert teacher["deletion_auc_diff"] == pytest.approx(-0.3) and teacher["deletion_auc_diff_sd"] == 0
    monkeypatch.setattr(sys, "argv", ["distill_seeds.py", *map(str, studies)])
    distill_seeds.main()
    assert json.loads((tmp_path / "explanations_seeds.json").read_text())[2]["row"] == "student full"
    plain = [write_study(tmp_path / f"p{k}", k, 0.78, 0.76, 8.0) for k in range(2)]
    monkeypatch.setattr(sys, "argv", ["distill_seeds.py", *map(str, plain)])
    (tmp_path / "explanations_seeds.json").unlink()
    distill_seeds.main()
    assert not (tmp_path / "explanations_seeds.json").exists()  # nothing measured, no table
