"""The metric vocabulary: one name per quantity, used in CSV columns, summary.json keys and reports.

    natural_acc           accuracy on the clean texts
    loss                  mean cross-entropy on the clean texts
    adversarial_acc       accuracy under attack: texts still classified correctly after the attack,
                          over all attacked texts (TextAttack's "accuracy under attack")
    attack_success_rate   successful attacks over attacked texts that were correct before
    n_attacked            texts the attack ran on
    n_correct_attacked    of those, the ones classified correctly before the attack (the attack
                          success rate's denominator)
    majority_acc          a device's majority-label baseline: its most frequent training label,
                          scored on its test texts
    top_class_share       share of the test predictions that are the model's most frequent class
    constant              1 when top_class_share >= CONSTANT_SHARE: attacks cannot flip such a
                          model, so its accuracy under attack says nothing about robustness

Each threat (an attack at a word budget, fedrobust.evaluation.config) has its own columns,
``adversarial_acc[fast_pwws@0.1]`` and ``attack_success_rate[fast_pwws@0.1]`` (threat_metric);
the plain names are those of the primary threat.
"""

from __future__ import annotations

from typing import Any, Mapping

NATURAL_ACC = "natural_acc"
LOSS = "loss"
ADVERSARIAL_ACC = "adversarial_acc"
ATTACK_SUCCESS_RATE = "attack_success_rate"
N_ATTACKED = "n_attacked"
N_CORRECT_ATTACKED = "n_correct_attacked"  # attacked texts classified correctly before the attack
MAJORITY_ACC = "majority_acc"
TOP_CLASS_SHARE = "top_class_share"
CONSTANT = "constant"
CONSTANT_SHARE = 0.9  # a model predicting one class for >= 90% of a device's texts is flagged
THREAT_METRICS = (ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE)


def threat_metric(metric: str, label: str) -> str:
    """``adversarial_acc[fast_pwws@0.1]``: a metric under one threat (see config.threat_label)."""
    return f"{metric}[{label}]"


def threat_of(column: str, metric: str = ADVERSARIAL_ACC) -> str | None:
    """The threat label of a ``metric[label]`` column, None for other columns."""
    prefix = metric + "["
    return column[len(prefix):-1] if column.startswith(prefix) and column.endswith("]") else None

# names that earlier versions wrote, and the name each quantity has now
RENAMED_METRICS = {"clean_acc": NATURAL_ACC, "adv_acc": ADVERSARIAL_ACC, "n_adv": N_ATTACKED}


def with_current_names(record: Any) -> Any:
    """A record written by an earlier version (a summary.json, a CSV row) with today's metric
    names, also for their ``_ci95`` variants and inside nested mappings."""
    if isinstance(record, Mapping):
        return {_current_name(str(k)): with_current_names(v) for k, v in record.items()}
    if isinstance(record, list):
        return [with_current_names(v) for v in record]
    return record


def _current_name(key: str) -> str:
    base, ci, _ = key.partition("_ci95")
    if base in RENAMED_METRICS:
        return RENAMED_METRICS[base] + ci + key[len(base) + len(ci):]
    return key
