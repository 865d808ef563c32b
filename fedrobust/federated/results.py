"""Run-directory tables: clients.csv (one row per client and phase), rounds.csv, summary.json."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from fedrobust.evaluation.confidence import wilson_interval
from fedrobust.evaluation.device_summary import is_constant, summarize_phase, threat_labels
from fedrobust.evaluation.metrics import (
    ADVERSARIAL_ACC,
    ATTACK_SUCCESS_RATE,
    CONSTANT,
    LOSS,
    MAJORITY_ACC,
    N_ATTACKED,
    N_CORRECT_ATTACKED,
    NATURAL_ACC,
    THREAT_METRICS,
    TOP_CLASS_SHARE,
    threat_metric,
)
from fedrobust.federated.device_explanations import explanation_columns, summarize_explanations
from fedrobust.files import write_text_atomically

MIA_ATTACKS = ("loss_threshold", "reference_calibrated")  # fedrobust.privacy.membership's registry names
MIA_METRIC_COLUMNS = [f"mia_{a}_{m}" for a in MIA_ATTACKS for m in ("auc", "tpr_at_min_fpr")]
MIA_SIZE_COLUMNS = ["mia_n_members", "mia_n_nonmembers", "mia_min_fpr"]  # min FPR: 1 / n_nonmembers
MIA_COLUMNS = [*MIA_SIZE_COLUMNS, *MIA_METRIC_COLUMNS]
# device_epsilon (with device_delta) is the device's guarantee over every step on its data (rounds
# and on-device DP-SGD, fedrobust.federated.device_privacy); dp_epsilon and rounds_epsilon its parts
EPSILON_COLUMNS = ["device_epsilon", "device_delta", "dp_epsilon", "rounds_epsilon"]
PRIVACY_COLUMNS = [*EPSILON_COLUMNS, *MIA_COLUMNS]
CLIENT_COLUMNS = ["client_id", "partition_id", "algorithm", "phase", "n_train", "n_test",
                  NATURAL_ACC, f"{NATURAL_ACC}_ci95_low", f"{NATURAL_ACC}_ci95_high", MAJORITY_ACC, TOP_CLASS_SHARE,
                  CONSTANT, ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED, N_CORRECT_ATTACKED, LOSS,
                  *PRIVACY_COLUMNS]
# dp_*: round DP (fedrobust.privacy.round_dp): the updates averaged, the bound that clipped them,
# the noise std added to their mean
ROUND_COLUMNS = ["round", "algorithm", "sampled", "succeeded", "failed", "train_loss", "train_examples",
                 "public_train_acc", "dp_averaged", "dp_clipping_norm", "dp_noise_std", "wall_s"]
METRICS = (NATURAL_ACC, ADVERSARIAL_ACC)  # summarized over clients in summary.json
PHASES = ("global", "personalized")


def client_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """CLIENT_COLUMNS with each measured threat's columns after the primary threat's, and the
    explanation-agreement columns (when measured) after the loss."""
    rows = list(rows)
    threats = [threat_metric(m, label) for label in threat_labels(rows) for m in THREAT_METRICS]
    at = CLIENT_COLUMNS.index(N_CORRECT_ATTACKED) + 1
    after_loss = CLIENT_COLUMNS.index(LOSS) + 1
    return [*CLIENT_COLUMNS[:at], *threats, *CLIENT_COLUMNS[at:after_loss], *explanation_columns(rows),
            *CLIENT_COLUMNS[after_loss:]]


def write_csv(path: Path, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def _distribution(rows: list[Mapping[str, Any]], key: str, worst=min) -> dict[str, Any]:
    pairs = [(float(r[key]), r["client_id"]) for r in rows if r.get(key) is not None and math.isfinite(float(r[key]))]
    if not pairs:
        return {"clients": 0}
    values = np.array([v for v, _ in pairs])
    worst_value, worst_client = worst(pairs)
    return {
        "clients": len(values),
        "mean": round(float(values.mean()), 4),
        "median": round(float(np.median(values)), 4),
        "p10": round(float(np.percentile(values, 10)), 4),
        "worst": round(worst_value, 4),
        "worst_client": worst_client,
        "std": round(float(values.std()), 4),
    }


def summarize_clients(rows: list[Mapping[str, Any]], seed: int = 0,
                      pooled_membership: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Per phase, the distribution of each metric over clients (accuracy under attack over the
    devices whose model is not constant), the evidence a reviewer reads (macro and micro accuracy
    with intervals, the majority baseline and the gain over it, per threat), the per-client
    personalization gain, the explanation agreement with the teacher when measured
    (fedrobust.federated.device_explanations), and the privacy figures (with the membership attack
    pooled over devices, {phase: {attack: metrics}}, fedrobust.federated.membership_pool)."""
    summary: dict[str, Any] = {}
    by_phase = {phase: [r for r in rows if r["phase"] == phase] for phase in PHASES}
    for phase, phase_rows in by_phase.items():
        counted = [r for r in phase_rows if not is_constant(r)]
        summary[phase] = {NATURAL_ACC: _distribution(phase_rows, NATURAL_ACC),
                          ADVERSARIAL_ACC: _distribution(counted, ADVERSARIAL_ACC),
                          "evidence": summarize_phase(phase_rows, seed=seed)}
    before = {r["client_id"]: r for r in by_phase["global"]}
    gains = []
    for row in by_phase["personalized"]:
        if row["client_id"] in before:
            gains.append({"client_id": row["client_id"],
                          **{m: float(row[m]) - float(before[row["client_id"]][m]) for m in METRICS}})
    summary["personalization_gain"] = {m: _distribution(gains, m) for m in METRICS}
    if gains:
        summary["personalization_gain"]["clients_hurt_natural"] = sum(g["natural_acc"] < 0 for g in gains)
    explanations = summarize_explanations(by_phase, seed=seed)
    if explanations:
        summary["explanations"] = explanations
    privacy = summarize_privacy(by_phase, pooled_membership or {})
    if privacy:
        summary["privacy"] = privacy
    return summary


def summarize_privacy(by_phase: Mapping[str, list[Mapping[str, Any]]],
                      pooled: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Per phase, the distribution over devices of each epsilon and membership-inference metric
    (``inf`` epsilons, no guarantee, are counted apart from the distribution of the finite ones),
    the members and non-members the attacks saw, and the attack pooled over all devices
    (``mia_<attack>_pooled``: the headline)."""
    summary: dict[str, Any] = {}
    for phase, rows in by_phase.items():
        section = {}
        for column in (*EPSILON_COLUMNS, *MIA_METRIC_COLUMNS):
            values = [float(r[column]) for r in rows if r.get(column) is not None and not math.isnan(float(r[column]))]
            if not values:
                continue
            section[column] = _distribution(rows, column, worst=max)  # more epsilon, more leakage: worse
            if any(math.isinf(v) for v in values):
                section[column]["clients_without_guarantee"] = sum(math.isinf(v) for v in values)
        sizes = [(float(r["mia_n_members"]), float(r["mia_n_nonmembers"])) for r in rows
                 if r.get("mia_n_nonmembers") is not None and math.isfinite(float(r["mia_n_nonmembers"]))]
        if sizes:
            section["mia_examples"] = {"members": int(sum(m for m, _ in sizes)), "nonmembers": int(sum(n for _, n in sizes)),
                                       "nonmembers_per_device_median": float(np.median([n for _, n in sizes]))}
        for attack, metrics in (pooled or {}).get(phase, {}).items():
            section[f"mia_{attack}_pooled"] = dict(metrics)
        if section:
            summary[phase] = section
    return summary


def client_rows(algorithm: str, partition_id: int, client_id: str, metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per phase from a device's flat ``<phase>/<metric>`` record, with the natural
    accuracy's Wilson interval and the device's majority-label baseline."""
    rows = []
    n_test = int(metrics["num-examples"])
    for phase in PHASES:
        row: dict[str, Any] = {
            "client_id": client_id, "partition_id": partition_id, "algorithm": algorithm, "phase": phase,
            "n_train": int(metrics["n-train"]), "n_test": n_test,
            MAJORITY_ACC: metrics.get(MAJORITY_ACC, math.nan),
            **{column: math.nan for column in PRIVACY_COLUMNS},
        }
        prefix = f"{phase}/"
        row.update({key[len(prefix):]: value for key, value in metrics.items() if key.startswith(prefix)})
        for column in (N_ATTACKED, N_CORRECT_ATTACKED, CONSTANT):
            if column in row:
                row[column] = int(row[column])
        natural = float(row.get(NATURAL_ACC, math.nan))
        low, high = wilson_interval(round(natural * n_test), n_test) if math.isfinite(natural) else (math.nan, math.nan)
        row[f"{NATURAL_ACC}_ci95_low"], row[f"{NATURAL_ACC}_ci95_high"] = low, high
        rows.append(row)
    return rows


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    write_text_atomically(path, json.dumps(summary, indent=2, default=str) + "\n")
