"""Threshold-free summaries of membership scores: ROC AUC and TPR at a fixed FPR."""

from __future__ import annotations

import math

import torch


def roc_auc(member_scores: torch.Tensor, nonmember_scores: torch.Tensor) -> float:
    """P(score of a random member > score of a random non-member), ties counting 1/2."""
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        return math.nan
    diff = member_scores[:, None].double() - nonmember_scores[None, :].double()
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


def tpr_at_fpr(member_scores: torch.Tensor, nonmember_scores: torch.Tensor, fpr: float = 0.01) -> float:
    """Fraction of members above the lowest threshold that flags at most ``fpr`` of non-members.

    With fewer than 1/fpr non-members no false positive is allowed, so the threshold is the
    highest non-member score (a device's test split is small: read the number as "TPR at 0 FPR").
    """
    if len(member_scores) == 0 or len(nonmember_scores) == 0:
        return math.nan
    allowed = int(math.floor(fpr * len(nonmember_scores)))
    threshold = torch.sort(nonmember_scores.double(), descending=True).values[allowed]
    return float((member_scores.double() > threshold).double().mean())
