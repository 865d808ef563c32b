"""The metric vocabulary: one name per quantity, used in CSV columns, summary.json keys and reports.

    natural_acc           accuracy on the clean texts
    loss                  mean cross-entropy on the clean texts
    adversarial_acc       accuracy under attack: texts still classified correctly after the attack,
                          over all attacked texts (TextAttack's "accuracy under attack")
    attack_success_rate   successful attacks over attacked texts that were correct before
    n_attacked            texts the attack ran on
"""

from __future__ import annotations

from typing import Any, Mapping

NATURAL_ACC = "natural_acc"
LOSS = "loss"
ADVERSARIAL_ACC = "adversarial_acc"
ATTACK_SUCCESS_RATE = "attack_success_rate"
N_ATTACKED = "n_attacked"

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
