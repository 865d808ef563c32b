"""Every federated algorithm on the same federation, seed and budget; one table.

    .venv/bin/python simulations/federated_benchmark.py --config configs/federated_benchmark.yaml \
        --out runs/federated_benchmark [--algorithms fedavg,robust_student] [--set rounds=3]

Each algorithm runs as `fedrobust simulate` would, into OUT/<algorithm>/ (a finished run with
the same config is reused, a killed one resumes). Prints and writes OUT/table.md and
OUT/table.csv: per-client natural and adversarial accuracy (mean and 10th percentile over
clients) for the global model and after personalization, and wall time.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from fedrobust.federated.algorithms import ALGORITHMS
from fedrobust.config_schema import parse_override
from fedrobust.federated.config import load_config
from fedrobust.federated.simulate import simulate

COLUMNS = ["algorithm", "clients", "natural_global_mean", "natural_global_p10", "natural_personalized_mean",
           "natural_personalized_p10", "adversarial_global_mean", "adversarial_global_p10",
           "adversarial_personalized_mean", "adversarial_personalized_p10", "failures", "wall_s"]


def run_algorithm(config_path: Path, overrides: dict, algorithm: str, out: Path) -> dict:
    config = load_config(config_path, {**overrides, "algorithm": algorithm})
    summary_path = out / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary.get("fingerprint") == config.fingerprint() and "wall_s" in summary:
            print(f"{algorithm}: reusing {out}")
            return summary
    return simulate(config, out)


def table_row(algorithm: str, summary: dict) -> dict:
    row = {"algorithm": algorithm, "clients": summary["clients_evaluated"],
           "failures": summary["failures"]["count"], "wall_s": summary["wall_s"]}
    for metric, short in (("natural_acc", "natural"), ("adversarial_acc", "adversarial")):
        for phase in ("global", "personalized"):
            stats = summary[phase][metric]
            row[f"{short}_{phase}_mean"] = stats.get("mean")
            row[f"{short}_{phase}_p10"] = stats.get("p10")
    return row


def markdown(rows: list[dict]) -> str:
    head = ("| algorithm | clients | natural mean (global → pers.) | natural p10 (global → pers.) | "
            "adversarial mean (global → pers.) | adversarial p10 (global → pers.) | failures | wall s |")
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        lines.append(
            f"| {r['algorithm']} | {r['clients']} | {r['natural_global_mean']:.3f} → {r['natural_personalized_mean']:.3f} | "
            f"{r['natural_global_p10']:.3f} → {r['natural_personalized_p10']:.3f} | "
            f"{r['adversarial_global_mean']:.3f} → {r['adversarial_personalized_mean']:.3f} | "
            f"{r['adversarial_global_p10']:.3f} → {r['adversarial_personalized_p10']:.3f} | {r['failures']} | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/federated_benchmark.yaml"))
    parser.add_argument("--out", type=Path, default=Path("runs/federated_benchmark"))
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS.names()))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    overrides = dict(parse_override(item) for item in args.overrides)
    rows = []
    for algorithm in args.algorithms.split(","):
        summary = run_algorithm(args.config, overrides, algorithm, args.out / algorithm)
        rows.append(table_row(algorithm, summary))
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = markdown(rows)
    (args.out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
