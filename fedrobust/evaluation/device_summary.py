"""What a reviewer reads off per-device rows (one clients.csv phase of one algorithm): accuracies
beside the majority-label baseline, macro and micro with intervals over devices, robust figures
without the devices a constant model makes meaningless, and paired comparisons.

Rows are mappings with ``client_id``, ``n_test``, ``n_attacked``, ``natural_acc``, ``majority_acc``,
``constant`` and ``adversarial_acc[<threat>]`` / ``attack_success_rate[<threat>]`` columns
(fedrobust.evaluation.metrics).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from fedrobust.evaluation.device_statistics import macro_micro, paired_difference, summarize_differences
from fedrobust.evaluation.metrics import (
    ADVERSARIAL_ACC,
    ATTACK_SUCCESS_RATE,
    CONSTANT,
    MAJORITY_ACC,
    N_ATTACKED,
    N_CORRECT_ATTACKED,
    NATURAL_ACC,
    threat_metric,
    threat_of,
)

Row = Mapping[str, Any]


def number_or_nan(value: Any) -> float:
    """A row's value as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def threat_labels(rows: Iterable[Row]) -> list[str]:
    """The threats measured in these rows, in column order."""
    labels: list[str] = []
    for row in rows:
        for column in row:
            label = threat_of(column)
            if label is not None and label not in labels:
                labels.append(label)
    return labels


def is_constant(row: Row) -> bool:
    return bool(number_or_nan(row.get(CONSTANT, 0)) >= 1)


def _accuracy(rows: Sequence[Row], column: str, size: str, seed: int) -> dict[str, Any]:
    """Macro and micro accuracy of ``column`` (a per-device rate over ``size`` texts)."""
    pairs = [(number_or_nan(r.get(column)), number_or_nan(r.get(size))) for r in rows]
    pairs = [(acc, n) for acc, n in pairs if math.isfinite(acc) and math.isfinite(n) and n > 0]
    return macro_micro([round(acc * n) for acc, n in pairs], [n for _, n in pairs], seed=seed)


def _robust_on_correct(rows: Sequence[Row], label: str, seed: int) -> dict[str, Any]:
    """Accuracy under attack over the texts the model got right before (1 - attack success rate,
    TextAttack's view), macro and micro over devices."""
    survived, correct = [], []
    for row in rows:
        adversarial, n = number_or_nan(row.get(threat_metric(ADVERSARIAL_ACC, label))), number_or_nan(row.get(N_ATTACKED))
        right = number_or_nan(row.get(N_CORRECT_ATTACKED))
        if math.isfinite(adversarial) and math.isfinite(n) and math.isfinite(right) and right > 0:
            survived.append(round(adversarial * n))
            correct.append(right)
    return macro_micro(survived, correct, seed=seed)


def _unflipped(row: Row, label: str) -> bool:
    """The attack flipped none of the device's correctly classified texts: its accuracy under
    attack equals its natural accuracy on the attacked texts, which says nothing about robustness
    when the model barely varies its predictions there."""
    right = number_or_nan(row.get(N_CORRECT_ATTACKED))
    return right > 0 and number_or_nan(row.get(threat_metric(ATTACK_SUCCESS_RATE, label))) == 0


def summarize_phase(rows: Sequence[Row], seed: int = 0) -> dict[str, Any]:
    """One phase of one algorithm: natural accuracy and the majority baseline (macro, micro, 95%
    intervals), the paired gain over the baseline, and per threat the accuracy under attack over
    the devices whose model is not constant, with the constant devices counted apart."""
    labels = threat_labels(rows)
    counted = [r for r in rows if not is_constant(r)]
    constant = [r for r in rows if is_constant(r)]
    summary: dict[str, Any] = {
        "devices": len(rows),
        NATURAL_ACC: _accuracy(rows, NATURAL_ACC, "n_test", seed),
        MAJORITY_ACC: _accuracy(rows, MAJORITY_ACC, "n_test", seed),
        "gain_over_majority": paired_difference([number_or_nan(r.get(NATURAL_ACC)) for r in rows],
                                                [number_or_nan(r.get(MAJORITY_ACC)) for r in rows], seed=seed),
        "constant_devices": len(constant),
        "threats": {},
    }
    for label in labels:
        column = threat_metric(ADVERSARIAL_ACC, label)
        summary["threats"][label] = {
            ADVERSARIAL_ACC: _accuracy(counted, column, N_ATTACKED, seed),
            "robust_acc_on_correct": _robust_on_correct(counted, label, seed),
            "natural_acc_same_devices": _accuracy(counted, NATURAL_ACC, "n_test", seed),
            "constant_devices_adversarial_acc": _accuracy(constant, column, N_ATTACKED, seed),
            "unflipped_devices": sum(_unflipped(r, label) for r in rows),
        }
    return summary


def device_differences(a: Sequence[Row], b: Sequence[Row], *, exclude_constant: bool = True) -> dict[str, dict[str, float]]:
    """metric -> client -> ``a - b`` on the devices both measured: natural accuracy and, per threat,
    accuracy under attack (leaving out devices where either model is constant)."""
    by_client = {r["client_id"]: r for r in b}
    columns = [NATURAL_ACC, *(threat_metric(ADVERSARIAL_ACC, label) for label in threat_labels(a))]
    out: dict[str, dict[str, float]] = {column: {} for column in columns}
    for row in a:
        other = by_client.get(row["client_id"])
        if other is None:
            continue
        skip_attacks = exclude_constant and (is_constant(row) or is_constant(other))
        for column in columns:
            if skip_attacks and column != NATURAL_ACC:
                continue
            x, y = number_or_nan(row.get(column)), number_or_nan(other.get(column))
            if math.isfinite(x) and math.isfinite(y):
                out[column][row["client_id"]] = x - y
    return out


def compare_rows(a: Sequence[Row], b: Sequence[Row], seed: int = 0, *,
                 exclude_constant: bool = True) -> dict[str, Any]:
    """Paired per-device differences ``a - b`` (device_differences), each summarized by
    summarize_differences: mean, bootstrap interval over devices, Wilcoxon and permutation p."""
    return {column: summarize_differences(list(values.values()), seed=seed)
            for column, values in device_differences(a, b, exclude_constant=exclude_constant).items()}
