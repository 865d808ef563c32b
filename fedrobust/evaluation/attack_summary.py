"""Aggregate AttackRecords into the numbers papers report, each with a 95% interval, under the
names of fedrobust.evaluation.metrics.

Definitions follow TextAttack: accuracy under attack = failed / all examples; attack success
rate = successful / (successful + failed) (skipped examples were misclassified already);
mean queries over attacked (non-skipped) examples; perturbed-word fraction over successes.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from fedrobust.attacks.records import FAILED, SKIPPED, SUCCESSFUL, AttackRecord
from fedrobust.evaluation.confidence import bootstrap_mean_interval, wilson_interval
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED, NATURAL_ACC


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def summarize_attack(
    records: Sequence[AttackRecord], elapsed_s: float | None = None, cpu_s: float | None = None, seed: int = 0
) -> dict[str, Any]:
    """Counts, rates and means with 95% intervals; throughput when the wall (and CPU) time is given.
    natural_acc is that of the attacked texts, from the model's clean prediction the attack made."""
    n = len(records)
    successful = sum(r.result == SUCCESSFUL for r in records)
    failed = sum(r.result == FAILED for r in records)
    skipped = sum(r.result == SKIPPED for r in records)
    clean_correct = sum(r.clean_pred == r.label for r in records)
    attacked = [r for r in records if r.result != SKIPPED]
    queries = [float(r.queries) for r in attacked]
    perturbed = [r.perturbed_fraction for r in records if r.result == SUCCESSFUL]
    summary: dict[str, Any] = {
        N_ATTACKED: n,
        "num_successful": successful,
        "num_failed": failed,
        "num_skipped": skipped,
        NATURAL_ACC: clean_correct / n if n else math.nan,
        f"{NATURAL_ACC}_ci95": list(wilson_interval(clean_correct, n)),
        ADVERSARIAL_ACC: failed / n if n else math.nan,
        f"{ADVERSARIAL_ACC}_ci95": list(wilson_interval(failed, n)),
        ATTACK_SUCCESS_RATE: successful / len(attacked) if attacked else math.nan,
        f"{ATTACK_SUCCESS_RATE}_ci95": list(wilson_interval(successful, len(attacked))),
        "mean_queries": _mean(queries),
        "mean_queries_ci95": list(bootstrap_mean_interval(queries, seed=seed)),
        "mean_perturbed_fraction": _mean(perturbed),
        "mean_perturbed_fraction_ci95": list(bootstrap_mean_interval(perturbed, seed=seed)),
    }
    if elapsed_s is not None:
        summary["elapsed_s"] = elapsed_s
        summary["examples_per_s"] = n / elapsed_s if elapsed_s > 0 else math.nan
    if cpu_s is not None:
        summary["cpu_s"] = cpu_s
        summary["examples_per_cpu_s"] = n / cpu_s if cpu_s > 0 else math.nan
    return summary
