"""A benchmark of many federations over seeds as three compact tables, one row per algorithm: natural
accuracy (global -> personalized, the majority baseline, the gain over it, the paired difference with
the reference), accuracy under each threat (global -> personalized), the paired difference with
the reference under each threat after personalization, and (when measured) the agreement with the
teacher's token attributions before and after personalization.

Input: fedrobust.report.seeds.seed_summary's ``figures`` and ``comparisons`` (the pooled difference:
each device's difference averaged over seeds, a 95% bootstrap interval over devices, Wilcoxon p).
"""

from __future__ import annotations

import math
from typing import Any

from fedrobust.evaluation.metrics import ADVERSARIAL_ACC
from fedrobust.report.document import Block, Heading, Paragraph, Table
from fedrobust.report.stats import fmt_mean_sd

NATURAL, MAJORITY, GAIN, CONSTANT = ("natural_acc (macro)", "majority_acc (macro)", "gain over majority",
                                     "constant-model devices")
PERSONALIZED = "personalized"


def _threats(figures: dict[str, Any]) -> list[str]:
    """Threat labels in the order the figures name them (``adversarial_acc[<threat>] (macro)``)."""
    prefix, suffix = f"{ADVERSARIAL_ACC}[", "] (macro)"
    names = (name for phases in figures.values() for by_name in phases.values() for name in by_name)
    return list(dict.fromkeys(n[len(prefix):-len(suffix)] for n in names if n.startswith(prefix) and n.endswith(suffix)))


def _phases(phases: dict[str, Any], name: str) -> str:
    before, after = (fmt_mean_sd(phases.get(phase, {}).get(name)) for phase in ("global", PERSONALIZED))
    return f"{before} → {after}"


def _count(figure: dict[str, Any] | None) -> str:
    return "–" if not figure or not figure.get("seeds") else f"{figure['mean']:.0f}"


def _pooled(diff: dict[str, Any] | None, with_devices: bool = False) -> str:
    """``+0.012 [−0.004, +0.029]`` with ``*`` when the interval excludes 0 (and ``n=…``, the devices
    compared, where that depends on the pair)."""
    if not diff or not diff.get("devices") or math.isnan(diff.get("mean", math.nan)):
        return "–"
    low, high = diff["ci95"]
    return (f"{diff['mean']:+.3f} [{low:+.3f}, {high:+.3f}]" + (" *" if diff.get("detected") else "")
            + (f" n={diff['devices']}" if with_devices else ""))


def benchmark_blocks(summary: dict[str, Any], reference: str | None) -> list[Block]:
    """The three tables; without a reference (``report.compare_to``) the difference columns are left out."""
    figures, comparisons = summary["figures"], summary["comparisons"]
    if not figures:
        return []
    seeds = ", ".join(map(str, summary["seeds"]))

    def against(algorithm: str, metric: str) -> str:
        if algorithm == reference:
            return "(reference)"
        pooled = comparisons.get(f"{algorithm} - {reference}", {}).get(PERSONALIZED, {}).get(metric, {}).get("pooled")
        return _pooled(pooled, with_devices=metric.startswith(ADVERSARIAL_ACC))

    threats = _threats(figures)
    with_reference = reference is not None and reference in figures
    natural_rows = []
    for algorithm, phases in figures.items():
        personalized = phases.get(PERSONALIZED, {})
        row = [algorithm, _phases(phases, NATURAL), fmt_mean_sd(personalized.get(MAJORITY), with_sd=False),
               fmt_mean_sd(personalized.get(GAIN))]
        row += [against(algorithm, "natural_acc")] if with_reference else []
        natural_rows.append(row + [f"{_count(phases.get('global', {}).get(CONSTANT))} → {_count(personalized.get(CONSTANT))}"])
    blocks: list[Block] = [
        Heading(f"Benchmark across seeds ({seeds})"),
        Paragraph("Per device, macro over devices, mean ± sd over seeds; global → personalized. The gain over "
                  "the device's majority label and the difference with the reference are paired per device "
                  "after personalization; the difference is each device's mean over seeds with a 95% "
                  "bootstrap interval over devices (* where it excludes 0). Accuracy under attack leaves out "
                  "devices whose model predicts one class on ≥ 90% of their texts (counted in the last column)."),
        Table(["algorithm", "natural", "majority label", "personalized − majority"]
              + ([f"personalized − {reference}"] if with_reference else []) + ["constant-model devices"], natural_rows),
    ]
    if threats:
        blocks += [Heading("Accuracy under attack, global → personalized", 3),
                   Table(["algorithm", *threats],
                         [[algorithm, *(_phases(phases, f"{ADVERSARIAL_ACC}[{t}] (macro)") for t in threats)]
                          for algorithm, phases in figures.items()])]
        if with_reference:
            blocks += [Heading(f"Under attack after personalization, minus {reference} (paired per device)", 3),
                       Paragraph("On the devices where neither model is constant (n of them, pooled over seeds): "
                                 "a model that predicts one class for a device's texts cannot show robustness "
                                 "there, so each pair is compared where both can."),
                       Table(["algorithm", *threats],
                             [[algorithm, *(against(algorithm, f"{ADVERSARIAL_ACC}[{t}]") for t in threats)]
                              for algorithm in figures])]
    return blocks + explanation_blocks(summary)


def explanation_blocks(summary: dict[str, Any]) -> list[Block]:
    """Agreement with the teacher's attributions before and after personalization, when measured."""
    changes = summary.get("explanation_changes") or {}
    rows = [[algorithm, column, _phases(summary["figures"][algorithm], f"{column} (mean)"),
             fmt_mean_sd(change["across_seeds"]), _pooled(change["pooled"])]
            for algorithm, by_column in changes.items() for column, change in by_column.items()]
    if not rows:
        return []
    return [Heading("Agreement with the teacher's attributions, global → personalized", 3),
            Paragraph("Each device's mean over its texts, then the mean over devices (± sd over seeds); the change "
                      "is personalized minus global per device: its mean per seed (± sd), and each device's change "
                      "averaged over seeds with a 95% bootstrap interval over devices (* where it excludes 0)."),
            Table(["algorithm", "agreement", "global → personalized", "change, mean over seeds",
                   "change pooled over devices [95% CI]"], rows)]
