"""The report's tables: the compressed student, the federated arms, stage timings."""

from __future__ import annotations

import math
from typing import Any

from fedrobust.evaluation.confidence import bootstrap_mean_interval
from fedrobust.evaluation.device_statistics import describe_difference, paired_difference
from fedrobust.evaluation.device_summary import is_constant
from fedrobust.federated.device_explanations import agreement_columns
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC
from fedrobust.report.collect import Arm, RunResults
from fedrobust.report.document import Table
from fedrobust.report.stats import fmt_mean_ci, mean_ci


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}f}"


def study_table(runs: list[RunResults]) -> Table | None:
    rows = []
    for run in runs:
        s = run.summary
        if not s.get("student") and not s.get("teacher"):
            continue
        teacher, student, attack = s.get("teacher", {}), s.get("student", {}), s.get("attack", {})
        agreement = attack.get("explanation_agreement", {})
        rows.append([
            run.name, _num(teacher.get("params")), _num(teacher.get("natural_acc")),
            _num((attack.get("teacher") or {}).get(ADVERSARIAL_ACC)),
            str(student.get("name", "–")), _num(student.get("params")), _num(student.get("param_ratio")),
            _num(student.get("bytes_int8")), _num(student.get("natural_acc")),
            _num((attack.get("student") or {}).get(ADVERSARIAL_ACC)), _num(student.get("latency_ms"), 2),
            _num(agreement.get("mean_spearman")),
        ])
    if not rows:
        return None
    return Table(["run", "teacher params", "teacher natural", "teacher under attack", "student", "student params",
                  "of teacher", "bytes int8", "student natural", "student under attack", "ms/text", "attribution ρ"], rows)


def arms_table(arms: list[Arm]) -> Table:
    """Client means; accuracy under attack (the primary threat) without constant-model devices."""
    rows = []
    for arm in arms:
        glob, pers, gains = arm.phase("global"), arm.phase("personalized"), arm.gains()
        constant = {r["client_id"] for r in arm.clients if is_constant(r)}
        failures = arm.summary.get("failures", {}).get("count", 0)
        hurt = sum(g["natural_acc"] < 0 for g in gains)
        attacked_gains = [g for g in gains if g["client_id"] not in constant]
        rows.append([
            arm.label, f"{len(pers)}/{arm.summary.get('clients', len(pers))}",
            fmt_mean_ci(r["natural_acc"] for r in glob), fmt_mean_ci(r["natural_acc"] for r in pers),
            fmt_mean_ci(r["adversarial_acc"] for r in glob if not is_constant(r)),
            fmt_mean_ci(r["adversarial_acc"] for r in pers if not is_constant(r)),
            f"{mean_ci(g['natural_acc'] for g in gains)[0]:+.3f}" if gains else "–",
            f"{mean_ci(g['adversarial_acc'] for g in attacked_gains)[0]:+.3f}" if attacked_gains else "–",
            str(hurt), str(failures),
        ])
    return Table(["algorithm", "clients", "natural, global", "natural, personalized", "under attack, global",
                  "under attack, personalized", "gain natural", "gain under attack", "clients hurt", "failed clients"], rows)


def _mean_interval(values: list[float]) -> str:
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return "–"
    low, high = bootstrap_mean_interval(values)
    return f"{sum(values) / len(values):.3f} [{low:.3f}, {high:.3f}]"


def explanation_table(arms: list[Arm]) -> Table | None:
    """Per algorithm and agreement column (fedrobust.federated.device_explanations): the mean over
    devices of each phase, and the paired change per device with its interval; None when no arm measured it."""
    rows = []
    for arm in arms:
        before = {r["client_id"]: r for r in arm.phase("global")}
        after = [r for r in arm.phase("personalized") if r["client_id"] in before]
        for column in agreement_columns(arm.clients):
            change = paired_difference([float(r[column]) for r in after],
                                       [float(before[r["client_id"]][column]) for r in after])
            rows.append([arm.label, column, str(change["devices"]),
                         _mean_interval([float(before[r["client_id"]][column]) for r in after]),
                         _mean_interval([float(r[column]) for r in after]), describe_difference(change)])
    if not rows:
        return None
    return Table(["algorithm", "agreement", "devices", "global [95% CI]", "personalized [95% CI]",
                  "change per device [95% CI], Wilcoxon p"], rows)


def stages_table(run: RunResults) -> Table | None:
    stages = run.summary.get("stages") or {}
    if not stages:
        return None
    rows = [[name, s.get("fingerprint", ""), "reused" if s.get("reused") else "ran", _num(s.get("seconds"), 1)]
            for name, s in stages.items()]
    return Table(["stage", "fingerprint", "this session", "seconds"], rows)
