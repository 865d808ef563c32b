"""The distillation study's headline figures across seeds (issue 3).

One seed's student moves by one to two points of natural accuracy on rotten_tomatoes, the size
of the margin the 5-point target leaves, so the target is judged on several seeds. Run the study
once per seed (the rows the figures need are enough), then summarise the folders:

    for s in 0 1 2 3; do
      python simulations/distill_study.py --data /tmp/rt --teacher /tmp/teacher_rt --seed $s \\
          --rows "student KD" "student full" --out runs/distill_seeds/seed$s
    done
    python simulations/distill_seeds.py runs/distill_seeds/seed*

Prints one row per study folder (the full-method student's natural accuracy and gap to the
teacher on the public test split and on the devices' test texts, accuracy under attack and the
paired margin over the KD-only student; when the study measured explanations, the full and KD-only
students' agreement with the teacher's attributions (Spearman) and the full student's deletion
faithfulness, attributed minus random) and their mean, median, minimum and maximum, and writes
them to ``seeds.md`` / ``seeds.json`` beside the first folder.

When the studies measured explanations it also writes the explanation table per distillation
variant (``explanations_seeds.md`` / ``.json``): for every row the studies share (teacher, CE, KD,
KD+FM, full, ...), agreement with the teacher (Spearman, top-k overlap, and the top-5 overlap
unrelated attributions would reach on the same texts: Spearman's is 0) and faithfulness (deletion
and insertion AUC, attributed minus random; faithful is deletion < 0 and insertion > 0), each as
its mean over seeds with the standard deviation and the per-seed values, and the per-seed change
in Spearman over the KD-only student.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path
from typing import Any

from distill_study import markdown, slug

from fedrobust.evaluation.agreement import chance_top_k
from fedrobust.evaluation.metrics import with_current_names  # simulations/ is on the path when a script here runs

# summarised across seeds; each seed's McNemar p is shown but not averaged (a mean p-value means nothing)
SUMMARISED = ["natural_acc", "gap_points", "natural_acc_clients", "gap_points_clients", "adversarial_acc", "margin_vs_kd",
              "expl_spearman", "expl_spearman_kd", "deletion_auc_diff"]


def _number(row: dict[str, Any] | None, column: str) -> float:
    """The row's figure, NaN where the study did not measure it (e.g. --skip-explain)."""
    value = (row or {}).get(column, "")
    return float(value) if value not in ("", None) else float("nan")


def seed_row(study_dir: Path) -> dict[str, Any]:
    summary_path, table_path = study_dir / "summary.json", study_dir / "table.csv"
    if not summary_path.is_file() or not table_path.is_file():
        raise SystemExit(f"{study_dir}: no summary.json / table.csv; run simulations/distill_study.py --out {study_dir}")
    summary = json.loads(summary_path.read_text())
    rows = study_rows(study_dir)
    if "student full" not in rows:
        raise SystemExit(f"{study_dir}: the study has no 'student full' row; run it with --rows 'student KD' 'student full'")
    full = rows["student full"]
    paired = summary.get("full_vs_kd_under_attack", {})
    return {
        "study": study_dir.name,
        "seed": summary["seed"],
        "natural_acc": float(full["natural_acc"]),
        "gap_points": round(summary["full_natural_gap_points"], 2),
        "natural_acc_clients": float(full["natural_acc_clients"]),
        "gap_points_clients": round(summary["full_natural_gap_points_clients"], 2),
        "adversarial_acc": _number(full, "adversarial_acc"),
        "margin_vs_kd": paired.get("margin_points", float("nan")),
        "mcnemar_p": round(paired["mcnemar_exact_p"], 4) if paired else float("nan"),
        "expl_spearman": _number(full, "expl_spearman"),
        "expl_spearman_kd": _number(rows.get("student KD"), "expl_spearman"),
        "deletion_auc_diff": _number(full, "deletion_auc_diff"),
    }


EXPLANATION_COLUMNS = ["expl_spearman", "expl_top5", "deletion_auc_diff", "insertion_auc_diff"]
KD_ROW = "student KD"
CHANCE = "expl_top5_chance"  # top-5 overlap of attributions unrelated to the teacher's, on the same texts


def chance_top5(study_dir: Path, label: str) -> float:
    """What unrelated attributions would score in top-5 overlap on the texts this row was compared on
    (its agreement CSV's token counts); NaN when the row has none."""
    path = study_dir / "explanations" / f"{slug(label)}_agreement.csv"
    if not path.is_file():
        return float("nan")
    with path.open() as handle:
        counts = [int(r["num_tokens"]) for r in csv.DictReader(handle) if r["top5_overlap"] not in ("", "nan")]
    return chance_top_k(counts, 5)


def study_rows(study_dir: Path) -> dict[str, dict[str, Any]]:
    """The study's table, row label -> row (columns under today's names: older studies wrote adv_acc)."""
    with (study_dir / "table.csv").open() as handle:
        return {row["row"]: with_current_names(row) for row in csv.DictReader(handle)}


def explanation_table(studies: list[Path]) -> list[dict[str, Any]]:
    """One line per row label present in every study: each explanation column's mean over seeds,
    its standard deviation and the per-seed values; NaN where a study did not measure it."""
    tables = [study_rows(d) for d in studies]
    labels = [label for label in tables[0] if all(label in t for t in tables[1:])]
    lines = []
    for label in labels:
        line: dict[str, Any] = {"row": label, "seeds": len(tables)}
        for column in EXPLANATION_COLUMNS + [CHANCE, "spearman_vs_kd"]:
            if column == "spearman_vs_kd":
                values = [_number(t[label], "expl_spearman") - _number(t.get(KD_ROW), "expl_spearman") for t in tables]
            elif column == CHANCE:
                values = [chance_top5(d, label) for d in studies]
            else:
                values = [_number(t[label], column) for t in tables]
            measured = [v for v in values if v == v]
            line[column] = round(statistics.fmean(measured), 4) if len(measured) == len(values) else float("nan")
            line[f"{column}_sd"] = round(statistics.stdev(measured), 4) if len(measured) == len(values) > 1 else float("nan")
            line[f"{column}_per_seed"] = " / ".join("–" if v != v else f"{v:+.3f}" for v in values)
        lines.append(line)
    return lines


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stats = {"mean": statistics.fmean, "median": statistics.median, "min": min, "max": max}
    return [{"study": name, "seed": "", **{f: round(fn([r[f] for r in rows]), 4) for f in SUMMARISED}, "mcnemar_p": ""}
            for name, fn in stats.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="+", type=Path, help="distill_study.py --out folders, one per seed")
    args = parser.parse_args()
    rows = [seed_row(d) for d in args.studies]
    table = rows + aggregate(rows)
    out = args.studies[0].parent
    (out / "seeds.md").write_text(markdown(table) + "\n")
    (out / "seeds.json").write_text(json.dumps(table, indent=2))
    print(markdown(table))
    explained = explanation_table(args.studies)
    if any(line["expl_spearman"] == line["expl_spearman"] for line in explained):
        (out / "explanations_seeds.md").write_text(markdown(explained) + "\n")
        (out / "explanations_seeds.json").write_text(json.dumps(explained, indent=2))
        print("\n" + markdown(explained))


if __name__ == "__main__":
    main()
