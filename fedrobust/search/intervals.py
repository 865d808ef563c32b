"""How precise a candidate's validation accuracies are: 95% Wilson half-widths, planned and measured.

    selection:
      max_interval: 0.03      # widest 95% half-width allowed on the accuracies the search selects on
      planned_accuracy: 0.75  # the accuracy at which the half-width is planned before the search
      on_wide: refuse         # refuse (ConfigError before any work) | warn

Before any work the search plans the half-width from the validation set's size
(``distill.train.validation_fraction`` of the public train split; ``evaluation.examples`` of those
for the attacked metrics) at ``planned_accuracy``. At 0.75 a Wilson half-width of 0.03 needs 799 texts.
Afterwards every candidate's measured half-widths go to candidates.json (``interval_half_width``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar, Mapping, Sequence

from fedrobust.config_schema import FRACTION, POSITIVE, Limit, check_all, check_limits, dotted
from fedrobust.errors import ConfigError
from fedrobust.evaluation.confidence import wilson_interval

log = logging.getLogger(__name__)

ON_WIDE = ("refuse", "warn")
FIXES = {
    "val_examples": "raise distill.train.validation_fraction (< 0.5), or prepare the data with a larger public "
                    "split (`fedrobust data prepare --public-fraction`) and retrain the teacher",
    "val_attacked": "set evaluation.examples to null to attack every validation text, or raise it",
}
# accuracy metric -> the metric that counts its texts (None: the validation set's size)
SAMPLE_SIZE_OF = {"val_natural_acc": "val_examples", "val_adversarial_acc": "val_attacked",
                  "val_natural_acc_attacked": "val_attacked"}


@dataclass
class SelectionSection:
    max_interval: float = 0.03
    planned_accuracy: float = 0.75
    on_wide: str = "refuse"

    LIMITS: ClassVar[dict[str, Limit]] = {"max_interval": POSITIVE, "planned_accuracy": FRACTION}

    def validate(self, where: str = "selection") -> None:
        check_limits(self, where)
        check_all([(self.on_wide in ON_WIDE,
                    f"{dotted(where, 'on_wide')} must be one of {', '.join(ON_WIDE)}, got {self.on_wide!r}")])


def half_width(accuracy: float, n: int, confidence: float = 0.95) -> float:
    """Half the width of the Wilson interval of ``accuracy`` measured on ``n`` texts (inf for none)."""
    if n <= 0:
        return math.inf
    low, high = wilson_interval(round(accuracy * n), n, confidence)
    return (high - low) / 2


def texts_needed(accuracy: float, max_half_width: float, confidence: float = 0.95) -> int:
    """The fewest texts whose Wilson half-width at ``accuracy`` is at most ``max_half_width``."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n = max(1, math.floor(z * z * accuracy * (1 - accuracy) / max_half_width ** 2) - 5)
    while half_width(accuracy, n, confidence) > max_half_width:
        n += 1
    return n


def measured_half_widths(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The 95% half-width of each validation accuracy in ``metrics`` (None where its size is unknown)."""
    widths: dict[str, float | None] = {}
    for metric, size in SAMPLE_SIZE_OF.items():
        if metric in metrics:
            n = metrics.get(size)
            widths[metric] = round(half_width(float(metrics[metric]), int(n)), 6) if n else None
    return widths


def check_planned(
    sizes: Mapping[str, int], selected_metrics: Sequence[str], section: SelectionSection, where: str = "",
) -> dict[str, float]:
    """The planned half-width of each selected accuracy; refuses (or warns, ``on_wide: warn``) when one
    is wider than ``max_interval``. ``sizes``: {"val_examples": n, "val_attacked": m}."""
    planned = {m: half_width(section.planned_accuracy, sizes[SAMPLE_SIZE_OF[m]])
               for m in selected_metrics if m in SAMPLE_SIZE_OF}
    wide = {m: w for m, w in planned.items() if w > section.max_interval}
    if not wide:
        return planned
    needed = texts_needed(section.planned_accuracy, section.max_interval)
    every_text_attacked = sizes["val_attacked"] >= sizes["val_examples"]
    problems: dict[str, list[str]] = {}  # fix -> the metrics it widens
    for metric, width in wide.items():
        size_key = SAMPLE_SIZE_OF[metric]
        fix = FIXES["val_examples" if every_text_attacked else size_key]
        problems.setdefault(fix, []).append(f"{metric} +/-{width:.3f} on {sizes[size_key]} texts")
    found = "; ".join(f"{', '.join(metrics)} ({fix})" for fix, metrics in problems.items())
    message = (f"the validation set is too small for config key {dotted(where, 'selection.max_interval')}="
               f"{section.max_interval:g} (a 95% interval at accuracy {section.planned_accuracy:g} needs {needed} "
               f"texts): {found}; or accept wider intervals with {dotted(where, 'selection.on_wide')}: warn")
    if section.on_wide == "refuse":
        raise ConfigError(message)
    log.warning("WIDE VALIDATION INTERVALS: %s", message)
    return planned
