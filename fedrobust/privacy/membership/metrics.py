"""Threshold-free summaries of membership scores: ROC AUC and TPR at a fixed FPR.

A TPR at FPR f needs at least 1/f non-members: with fewer, no threshold has a false-positive rate
that small and above zero. Per device (tens of non-members) the resolvable figure is the TPR at
the lowest non-zero FPR its non-members allow, 1/n_nonmembers (``tpr_at_min_fpr``); the figures at
1% and 0.1% FPR come from the attack pooled over all devices (``pooled_membership``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

PooledScores = Sequence[float] | torch.Tensor | np.ndarray


def _array(scores: PooledScores) -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        return scores.detach().double().cpu().numpy()
    return np.asarray(scores, dtype=np.float64)


def roc_auc(member_scores: PooledScores, nonmember_scores: PooledScores) -> float:
    """P(score of a random member > score of a random non-member), ties counting 1/2 (from
    average ranks: Mann-Whitney U, memory linear in the number of scores)."""
    members, nonmembers = _array(member_scores), _array(nonmember_scores)
    if len(members) == 0 or len(nonmembers) == 0:
        return math.nan
    values = np.concatenate([members, nonmembers])
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)  # 1-based average rank of each tie group
    u = ranks[: len(members)].sum() - len(members) * (len(members) + 1) / 2
    return float(u / (len(members) * len(nonmembers)))


def tpr_at_false_positives(member_scores: PooledScores, nonmember_scores: PooledScores, allowed: int) -> float:
    """Fraction of members above the lowest threshold that flags at most ``allowed`` non-members."""
    members, nonmembers = _array(member_scores), _array(nonmember_scores)
    if len(members) == 0 or len(nonmembers) == 0:
        return math.nan
    if allowed >= len(nonmembers):
        return 1.0
    threshold = np.sort(nonmembers)[::-1][allowed]
    return float((members > threshold).mean())


def tpr_at_fpr(member_scores: PooledScores, nonmember_scores: PooledScores, fpr: float = 0.01) -> float:
    """TPR at false-positive rate ``fpr``; NaN with fewer than 1/fpr non-members (unresolvable)."""
    n = len(nonmember_scores)
    allowed = math.floor(fpr * n + 1e-9)
    if allowed < 1:
        return math.nan
    return tpr_at_false_positives(member_scores, nonmember_scores, allowed)


def min_fpr(n_nonmembers: int) -> float:
    """The lowest non-zero false-positive rate ``n_nonmembers`` non-members can resolve."""
    return 1 / n_nonmembers if n_nonmembers else math.nan


def tpr_at_min_fpr(member_scores: PooledScores, nonmember_scores: PooledScores) -> float:
    """TPR at FPR 1/n_nonmembers: one non-member may be flagged."""
    return tpr_at_false_positives(member_scores, nonmember_scores, 1)


POOLED_FPRS = {"tpr_at_1pct_fpr": 0.01, "tpr_at_0.1pct_fpr": 0.001}


def pooled_membership(member_scores: PooledScores, nonmember_scores: PooledScores, devices: int) -> dict[str, Any]:
    """One threshold over the scores of all devices: AUC, TPR at 1% FPR (NaN below 100
    non-members) and at 0.1% FPR (reported from 1000 non-members on), with the counts."""
    n_nonmembers = len(nonmember_scores)
    result: dict[str, Any] = {"devices": devices, "n_members": len(member_scores), "n_nonmembers": n_nonmembers,
                              "auc": roc_auc(member_scores, nonmember_scores)}
    for key, fpr in POOLED_FPRS.items():
        if fpr >= 0.01 or n_nonmembers * fpr >= 1:
            result[key] = tpr_at_fpr(member_scores, nonmember_scores, fpr)
    return result
