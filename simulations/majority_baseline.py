"""A federated stage's device accuracies beside the per-device majority-label baseline.

    python simulations/majority_baseline.py runs/quickstart

For every device the run evaluated, the baseline predicts the most frequent label of the
device's own training texts on its test texts. Prints the mean over devices with a 95% bootstrap
interval for the baseline, each phase's natural and adversarial accuracy, and the paired
difference (phase minus baseline, same devices) of natural accuracy.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np

from fedrobust.data import FederatedDataset
from fedrobust.evaluation import bootstrap_mean_interval
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, NATURAL_ACC

PHASES = ("global", "personalized")


def majority_accuracy(train_labels: list[int], test_labels: list[int]) -> float:
    majority = Counter(train_labels).most_common(1)[0][0]
    return sum(y == majority for y in test_labels) / len(test_labels)


def line(name: str, values: np.ndarray) -> str:
    low, high = bootstrap_mean_interval(values, seed=0)
    return f"{name:<46}{values.mean():>7.3f}  [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a `fedrobust run` folder")
    args = parser.parse_args()
    summary = json.loads((args.run / "summary.json").read_text())
    dataset = FederatedDataset.load(summary["data"]["output"])
    index = {client_id: i for i, client_id in enumerate(dataset.client_ids)}
    for algorithm, result in (summary.get("federated") or {}).items():
        rows = list(csv.DictReader((Path(result["output"]) / "clients.csv").open()))
        by_phase = {phase: {r["client_id"]: r for r in rows if r["phase"] == phase} for phase in PHASES}
        devices = sorted(by_phase["global"], key=index.__getitem__)
        baseline = np.array([majority_accuracy(dataset.client(index[d]).train_labels, dataset.client(index[d]).test_labels)
                             for d in devices])
        print(f"{algorithm}: {len(devices)} devices, mean over devices [95% bootstrap interval]")
        print(line("majority label (own training texts)", baseline))
        for phase in PHASES:
            natural = np.array([float(by_phase[phase][d][NATURAL_ACC]) for d in devices])
            attacked = np.array([float(by_phase[phase][d][ADVERSARIAL_ACC]) for d in devices])
            print(line(f"{phase} {NATURAL_ACC}", natural))
            print(line(f"{phase} {ADVERSARIAL_ACC}", attacked))
            print(line(f"{phase} {NATURAL_ACC} - majority (paired)", natural - baseline))


if __name__ == "__main__":
    main()
