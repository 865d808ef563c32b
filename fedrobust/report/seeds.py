"""A multi-seed study: every figure as mean ± sd over seeds, and paired comparisons per seed and
over devices after averaging each device's difference over seeds.

Input: the per-seed run folders of `fedrobust run` with ``seeds:`` or ``federated_seeds:``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from fedrobust.evaluation.device_statistics import across_seeds, describe_difference, summarize_differences
from fedrobust.evaluation.device_summary import compare_rows, device_differences, number_or_nan, summarize_phase
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, MAJORITY_ACC, NATURAL_ACC
from fedrobust.federated.device_explanations import agreement_columns
from fedrobust.report.collect import Arm, load_run
from fedrobust.report.pairs import comparison_pairs
from fedrobust.report.document import Block, Heading, Paragraph, Table
from fedrobust.report.stats import fmt_mean_sd

PHASES = ("global", "personalized")


def _arms_by_seed(seed_dirs: dict[int, Path]) -> dict[int, dict[str, Arm]]:
    return {seed: {arm.algorithm: arm for arm in load_run(folder).arms} for seed, folder in seed_dirs.items()}


def _figures(arm: Arm, phase: str) -> dict[str, float]:
    """The headline figures of one algorithm, phase and seed."""
    rows = arm.phase(phase)
    s = summarize_phase(rows)
    figures = {"natural_acc (macro)": s[NATURAL_ACC]["macro"], "natural_acc (micro)": s[NATURAL_ACC]["micro"],
               "majority_acc (macro)": s[MAJORITY_ACC]["macro"], "gain over majority": s["gain_over_majority"]["mean"],
               "constant-model devices": float(s["constant_devices"])}
    for threat, t in s["threats"].items():
        figures[f"{ADVERSARIAL_ACC}[{threat}] (macro)"] = t[ADVERSARIAL_ACC]["macro"]
    for column in agreement_columns(rows):  # federated.evaluate.explanation_agreement
        values = [v for r in rows if math.isfinite(v := number_or_nan(r.get(column)))]
        figures[f"{column} (mean)"] = float(np.mean(values)) if values else math.nan
    return figures


def _pooled_over_seeds(by_device: dict[Any, list[float]]) -> dict[str, Any]:
    """Each device's difference averaged over the seeds that measured it, summarized over devices."""
    return summarize_differences([float(np.mean(values)) for values in by_device.values()])


def _explanation_changes(arms: dict[int, dict[str, Arm]], algorithm: str) -> dict[str, Any]:
    """Per agreement column, personalized minus global per device: each seed's mean, and pooled
    (each device's change averaged over seeds, interval over devices)."""
    seed_means: dict[str, list[float]] = {}
    by_device: dict[str, dict[Any, list[float]]] = {}
    for by_name in arms.values():
        arm = by_name.get(algorithm)
        if arm is None:
            continue
        before = {r["client_id"]: r for r in arm.phase("global")}
        after = arm.phase("personalized")
        for column in agreement_columns(after):
            changes = {r["client_id"]: number_or_nan(r.get(column)) - number_or_nan(before.get(r["client_id"], {}).get(column))
                       for r in after}
            changes = {client: change for client, change in changes.items() if math.isfinite(change)}
            if changes:
                seed_means.setdefault(column, []).append(float(np.mean(list(changes.values()))))
                for client, change in changes.items():
                    by_device.setdefault(column, {}).setdefault(client, []).append(change)
    return {column: {"across_seeds": across_seeds(seed_means[column]), "pooled": _pooled_over_seeds(by_device[column])}
            for column in seed_means}


def seed_summary(seed_dirs: dict[int, Path], compare_to: str | None = None) -> dict[str, Any]:
    """figures: algorithm -> phase -> figure -> {seeds, mean, sd, values}; comparisons: pair ->
    phase -> metric -> {per_seed: [compare_rows' summaries], across_seeds: mean ± sd of the mean
    difference, pooled: summarize_differences over devices of the seed-averaged differences}; the
    pairs are fedrobust.report.pairs.comparison_pairs(algorithms, compare_to); explanation_changes
    (when the devices measured agreement with the teacher's attributions): algorithm -> column ->
    personalized minus global per device, each seed's mean (across_seeds) and pooled over devices."""
    arms = _arms_by_seed(seed_dirs)
    algorithms = list(dict.fromkeys(name for by_name in arms.values() for name in by_name))
    figures: dict[str, Any] = {}
    for algorithm, phase in itertools.product(algorithms, PHASES):
        per_seed = {seed: _figures(by_name[algorithm], phase) for seed, by_name in arms.items() if algorithm in by_name}
        names = list(dict.fromkeys(name for f in per_seed.values() for name in f))
        figures.setdefault(algorithm, {})[phase] = {
            name: {**across_seeds([f.get(name, math.nan) for f in per_seed.values()]),
                   "values": {seed: f.get(name, math.nan) for seed, f in per_seed.items()}}
            for name in names}
    comparisons: dict[str, Any] = {}
    for a, b in comparison_pairs(algorithms, compare_to):
        for phase in PHASES:
            comparisons.setdefault(f"{a} - {b}", {})[phase] = _compare_over_seeds(arms, a, b, phase)
    explanations = {algorithm: changes for algorithm in algorithms if (changes := _explanation_changes(arms, algorithm))}
    return {"seeds": sorted(seed_dirs), "figures": figures, "comparisons": comparisons,
            **({"explanation_changes": explanations} if explanations else {})}


def _compare_over_seeds(arms: dict[int, dict[str, Arm]], a: str, b: str, phase: str) -> dict[str, Any]:
    per_seed: dict[str, dict[int, dict[str, Any]]] = {}
    device_diffs: dict[str, dict[str, list[float]]] = {}
    for seed, by_name in arms.items():
        if a not in by_name or b not in by_name:
            continue
        rows_a, rows_b = by_name[a].phase(phase), by_name[b].phase(phase)
        for metric, diff in compare_rows(rows_a, rows_b, seed=seed).items():
            per_seed.setdefault(metric, {})[seed] = diff
        for metric, values in device_differences(rows_a, rows_b).items():
            for client, value in values.items():
                device_diffs.setdefault(metric, {}).setdefault(client, []).append(value)
    result = {}
    for metric, by_seed in per_seed.items():
        result[metric] = {"per_seed": by_seed,
                          "across_seeds": across_seeds([d["mean"] for d in by_seed.values()]),
                          "pooled": _pooled_over_seeds(device_diffs.get(metric, {}))}
    return result


def seed_blocks(summary: dict[str, Any]) -> list[Block]:
    seeds = ", ".join(map(str, summary["seeds"]))
    blocks: list[Block] = [Heading(f"Across seeds ({seeds})"), Paragraph(
        "Each figure as mean ± sample sd over seeds; macro over devices, accuracy under attack without "
        "constant-model devices.")]
    rows = [[algorithm, phase, name, fmt_mean_sd(figure)]
            for algorithm, phases in summary["figures"].items() for phase, by_name in phases.items()
            for name, figure in by_name.items()]
    blocks.append(Table(["algorithm", "phase", "figure", "mean ± sd over seeds"], rows))
    rows = []
    for pair, phases in summary["comparisons"].items():
        for phase, metrics in phases.items():
            for metric, c in metrics.items():
                held = sum(d["detected"] and d["mean"] > 0 for d in c["per_seed"].values())
                lost = sum(d["detected"] and d["mean"] < 0 for d in c["per_seed"].values())
                rows.append([pair, phase, metric, fmt_mean_sd(c["across_seeds"]), describe_difference(c["pooled"]),
                             f"{held} / {lost} / {len(c['per_seed']) - held - lost}"])
    blocks += [Heading("Paired comparisons across seeds", 3), Paragraph(
        "Per pair of algorithms: the mean per-device difference in each seed (mean ± sd over seeds); pooled: "
        "each device's difference averaged over seeds, then a 95% bootstrap interval over devices and the "
        "Wilcoxon p; seeds where the first is better / worse / no difference detected (per-seed interval)."),
        Table(["pair", "phase", "metric", "mean difference over seeds", "pooled over devices [95% CI], p",
               "seeds better / worse / undetected"], rows)]
    return blocks
