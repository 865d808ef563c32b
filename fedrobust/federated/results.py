"""Run-directory tables: clients.csv (one row per client and phase), rounds.csv, summary.json."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from fedrobust.files import write_text_atomically

CLIENT_COLUMNS = ["client_id", "partition_id", "algorithm", "phase", "n_train", "n_test",
                  "natural_acc", "adversarial_acc", "n_adv", "loss"]
ROUND_COLUMNS = ["round", "algorithm", "sampled", "succeeded", "failed", "train_loss", "train_examples",
                 "public_natural_acc", "wall_s"]
METRICS = ("natural_acc", "adversarial_acc")


def write_csv(path: Path, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def _distribution(rows: list[Mapping[str, Any]], key: str) -> dict[str, Any]:
    pairs = [(float(r[key]), r["client_id"]) for r in rows if r.get(key) is not None and not math.isnan(float(r[key]))]
    if not pairs:
        return {"clients": 0}
    values = np.array([v for v, _ in pairs])
    worst_value, worst_client = min(pairs)
    return {
        "clients": len(values),
        "mean": round(float(values.mean()), 4),
        "median": round(float(np.median(values)), 4),
        "p10": round(float(np.percentile(values, 10)), 4),
        "worst": round(worst_value, 4),
        "worst_client": worst_client,
        "std": round(float(values.std()), 4),
    }


def summarize_clients(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Per phase, the distribution of each metric over clients, and the per-client gain."""
    summary: dict[str, Any] = {}
    by_phase = {phase: [r for r in rows if r["phase"] == phase] for phase in ("global", "personalized")}
    for phase, phase_rows in by_phase.items():
        summary[phase] = {metric: _distribution(phase_rows, metric) for metric in METRICS}
    before = {r["client_id"]: r for r in by_phase["global"]}
    gains = []
    for row in by_phase["personalized"]:
        if row["client_id"] in before:
            gains.append({"client_id": row["client_id"],
                          **{m: float(row[m]) - float(before[row["client_id"]][m]) for m in METRICS}})
    summary["personalization_gain"] = {m: _distribution(gains, m) for m in METRICS}
    if gains:
        summary["personalization_gain"]["clients_hurt_natural"] = sum(g["natural_acc"] < 0 for g in gains)
    return summary


def client_rows(algorithm: str, partition_id: int, client_id: str, metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for phase in ("global", "personalized"):
        rows.append({
            "client_id": client_id, "partition_id": partition_id, "algorithm": algorithm, "phase": phase,
            "n_train": int(metrics["n-train"]), "n_test": int(metrics["num-examples"]),
            "natural_acc": metrics[f"{phase}/natural_acc"], "adversarial_acc": metrics[f"{phase}/adversarial_acc"],
            "n_adv": int(metrics[f"{phase}/n_adv"]), "loss": metrics[f"{phase}/loss"],
        })
    return rows


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    write_text_atomically(path, json.dumps(summary, indent=2, default=str) + "\n")
