"""Warnings a federated result must carry: the signs that its headline numbers mean less than
they seem (a collapsing global model, devices an attack cannot flip, personalization that does not
beat predicting each device's majority label)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

PUBLIC_DROP_TOLERANCE = 0.01  # one point: noise on ~1,000 public texts is about this size


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def round_alarms(start: float | None, majority_share: float | None, rounds: Sequence[Mapping[str, Any]]) -> list[str]:
    """The global model's accuracy on the public monitor sample (public train texts) falling below
    where it started, or to the share of the sample's majority class (a near-constant model)."""
    accuracies = [(r["round"], _finite(r.get("public_train_acc"))) for r in rounds]
    accuracies = [(k, a) for k, a in accuracies if a is not None]
    if not accuracies:
        return []
    alarms = []
    last_round, last = accuracies[-1]
    if start is not None and last < start - PUBLIC_DROP_TOLERANCE:
        alarms.append(f"the global model's accuracy on public train texts fell from {start:.3f} before the rounds to {last:.3f} "
                      f"after round {last_round}")
    if majority_share is not None:
        collapsed = [k for k, a in accuracies if a <= majority_share]
        if collapsed:
            alarms.append(f"the global model's accuracy on public train texts is at or below the majority-class share "
                          f"{majority_share:.3f} after round(s) {', '.join(map(str, collapsed))}: it predicts "
                          "(nearly) one class")
    return alarms


def _strongest(threats: Mapping[str, Any]) -> list[str]:
    """Each attack's largest word budget (``attack@budget`` labels)."""
    largest: dict[str, tuple[float, str]] = {}
    for label in threats:
        attack, _, budget = label.rpartition("@")
        if attack not in largest or float(budget) > largest[attack][0]:
            largest[attack] = (float(budget), label)
    return [label for _, label in largest.values()]


def device_alarms(summary: Mapping[str, Any]) -> list[str]:
    """From summarize_clients' output: constant-model devices and no gain over the majority baseline."""
    alarms = []
    for phase in ("global", "personalized"):
        evidence = (summary.get(phase) or {}).get("evidence") or {}
        constant, devices = evidence.get("constant_devices", 0), evidence.get("devices", 0)
        if constant:
            alarms.append(f"{phase}: on {constant} of {devices} devices the model predicts one class for >= 90% of "
                          "the test texts; those devices are left out of the robust means and reported apart")
        for threat in _strongest(evidence.get("threats") or {}):
            unflipped = evidence["threats"][threat].get("unflipped_devices", 0)
            if unflipped:
                alarms.append(f"{phase}: on {unflipped} of {devices} devices {threat} flipped none of the correctly "
                              "classified texts (accuracy under attack equals natural accuracy)")
    gain = ((summary.get("personalized") or {}).get("evidence") or {}).get("gain_over_majority") or {}
    if gain.get("devices"):
        low, high = gain["ci95"]
        if not low > 0:
            alarms.append(f"personalized natural accuracy does not beat each device's majority label: "
                          f"{gain['mean']:+.3f} [{low:+.3f}, {high:+.3f}] over {gain['devices']} devices")
    return alarms
