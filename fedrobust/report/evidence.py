"""The report's evidence: every device accuracy beside the majority-label baseline, macro and
micro with 95% intervals over devices, accuracy under each threat without constant-model devices,
paired comparisons between algorithms, and the runs' alarms."""

from __future__ import annotations

import itertools
import math
from typing import Any

from fedrobust.evaluation.device_statistics import describe_difference
from fedrobust.evaluation.device_summary import compare_rows, summarize_phase, threat_labels
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, MAJORITY_ACC, NATURAL_ACC
from fedrobust.federated.alarms import device_alarms, round_alarms
from fedrobust.report.collect import Arm
from fedrobust.report.document import Table
from fedrobust.report.pairs import comparison_pairs

PHASES = ("global", "personalized")


def _rate(stats: dict[str, Any], kind: str) -> str:
    value = stats.get(kind, math.nan)
    if not isinstance(value, float) or math.isnan(value):
        return "–"
    low, high = stats[f"{kind}_ci95"]
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def phase_summaries(arms: list[Arm]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(arm.label, phase): summarize_phase(arm.phase(phase)) for arm in arms for phase in PHASES
            if arm.phase(phase)}


def baseline_table(summaries: dict[tuple[str, str], dict[str, Any]]) -> Table:
    rows = []
    for (label, phase), s in summaries.items():
        rows.append([label, phase, str(s["devices"]), _rate(s[MAJORITY_ACC], "macro"), _rate(s[NATURAL_ACC], "macro"),
                     _rate(s[NATURAL_ACC], "micro"), describe_difference(s["gain_over_majority"]),
                     str(s["constant_devices"])])
    return Table(["algorithm", "phase", "devices", "majority label (macro)", "natural (macro)", "natural (micro)",
                  "gain over majority, paired [95% CI], Wilcoxon p", "constant-model devices"], rows)


def threat_table(summaries: dict[tuple[str, str], dict[str, Any]]) -> Table:
    rows = []
    for (label, phase), s in summaries.items():
        for threat, t in s["threats"].items():
            constant = t["constant_devices_adversarial_acc"]
            rows.append([label, phase, threat, str(t[ADVERSARIAL_ACC]["devices"]),
                         _rate(t["natural_acc_same_devices"], "macro"), _rate(t[ADVERSARIAL_ACC], "macro"),
                         _rate(t[ADVERSARIAL_ACC], "micro"), _rate(t["robust_acc_on_correct"], "micro"),
                         f"{constant['macro']:.3f} on {constant['devices']}" if constant["devices"] else "–"])
    return Table(["algorithm", "phase", "threat", "devices counted", "natural, same devices (macro)",
                  "under attack (macro)", "under attack (micro)", "survives, of correct (micro)",
                  "constant-model devices, under attack"], rows)


def comparison_table(arms: list[Arm], phase: str = "personalized", within_runs: bool = False,
                     compare_to: str | None = None) -> Table | None:
    """The pairs of algorithms (``within_runs``: of the same run; ``compare_to``: see
    fedrobust.report.pairs) on the devices both measured, natural and per threat."""
    rows = []
    if not within_runs and compare_to is None:
        pairs = list(itertools.combinations(arms, 2))
    else:
        by_key = {(arm.run, arm.algorithm): arm for arm in arms}
        runs = list(dict.fromkeys(arm.run for arm in arms))
        pairs = [(by_key[(run, a)], by_key[(run, b)]) for run in runs
                 for a, b in comparison_pairs([arm.algorithm for arm in arms if arm.run == run], compare_to)]
    for a, b in pairs:
        differences = compare_rows(a.phase(phase), b.phase(phase))
        for metric, diff in differences.items():
            rows.append([f"{a.label} − {b.label}", metric, str(diff["devices"]), describe_difference(diff),
                         f"{diff['better']}/{diff['worse']}/{diff['tied']}"])
    if not rows:
        return None
    return Table(["pair", "metric", "devices", "mean difference [95% CI], Wilcoxon p", "better/worse/tied devices"],
                 rows)


def budget_curves(summaries: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """attack -> "algorithm, phase" -> [(word budget, macro accuracy)], budget 0 being natural
    accuracy on the same devices."""
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for (label, phase), s in summaries.items():
        for threat, t in s["threats"].items():
            attack, _, budget = threat.rpartition("@")
            line = curves.setdefault(attack, {}).setdefault(f"{label}, {phase}", [])
            if not line:
                line.append((0.0, t["natural_acc_same_devices"]["macro"]))
            line.append((float(budget), t[ADVERSARIAL_ACC]["macro"]))
    return curves


def alarms(arms: list[Arm], summaries: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The federation's alarms (fedrobust.federated.alarms), recomputed from each arm's tables."""
    found = []
    for arm in arms:
        start, share = arm.summary.get("public_train_acc_start"), arm.summary.get("public_majority_share")
        start = start if isinstance(start, (int, float)) and math.isfinite(start) else None
        by_phase = {phase: {"evidence": summaries[(arm.label, phase)]} for phase in PHASES if (arm.label, phase) in summaries}
        found += [f"{arm.label}: {alarm}" for alarm in round_alarms(start, share, arm.rounds) + device_alarms(by_phase)]
    return found


def measured_threats(arms: list[Arm]) -> list[str]:
    return threat_labels(r for arm in arms for r in arm.clients)


def has_evidence(arms: list[Arm]) -> bool:
    """Older runs lack the majority baseline and threat columns; their report keeps the old tables."""
    return any(MAJORITY_ACC in r for arm in arms for r in arm.clients[:1])
