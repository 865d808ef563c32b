"""The membership-inference attack pooled over all devices, the headline privacy figure.

A device has tens of non-members, too few for a TPR at a low FPR. Each device's reply carries
every example's membership score per phase and attack (fedrobust.federated.device_privacy); the
server takes them out of the device's metrics, writes them to RUN_DIR/membership_scores.csv (one
row per example: member 1 / non-member 0) and thresholds all devices' scores at once: pooled AUC,
TPR at 1% FPR and, from 1000 non-members on, at 0.1% FPR, with the numbers of members and
non-members (fedrobust.privacy.membership.pooled_membership). The loss-threshold scores are on
one scale on every device; the calibrated attack's are standardized per example; both pool.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, MutableMapping

from fedrobust.federated.device_privacy import SCORES_PREFIX
from fedrobust.federated.results import write_csv
from fedrobust.privacy.membership import pooled_membership

SCORES_CSV = "membership_scores.csv"
SCORE_COLUMNS = ["client_id", "partition_id", "phase", "attack", "member", "score"]


def take_scores(metrics: MutableMapping[str, Any], client_id: str, partition_id: int) -> list[dict[str, Any]]:
    """Remove the score lists from one device's metrics; returns them as membership_scores.csv rows."""
    rows = []
    for key in [k for k in metrics if k.startswith(SCORES_PREFIX)]:
        phase, attack, side = key[len(SCORES_PREFIX):].split("/")
        member = int(side == "members")
        rows += [{"client_id": client_id, "partition_id": partition_id, "phase": phase, "attack": attack,
                  "member": member, "score": float(score)} for score in metrics.pop(key)]
    return rows


def write_scores(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    return write_csv(path, SCORE_COLUMNS, rows)


def pooled_summary(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{phase: {attack: pooled metrics}} over every device's scores, one threshold for all."""
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"members": [], "nonmembers": [], "devices": set()})
    for row in rows:
        group = groups[(row["phase"], row["attack"])]
        group["members" if int(row["member"]) else "nonmembers"].append(float(row["score"]))
        group["devices"].add(row["client_id"])
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for (phase, attack), group in sorted(groups.items()):
        summary.setdefault(phase, {})[attack] = pooled_membership(group["members"], group["nonmembers"],
                                                                  len(group["devices"]))
    return summary
