"""Membership-inference attacks by name (``privacy.membership.attacks``)."""

from fedrobust.privacy.membership.base import MembershipAttack, MembershipTarget
from fedrobust.privacy.membership.loss_threshold import LossThreshold
from fedrobust.privacy.membership.metrics import min_fpr, pooled_membership, roc_auc, tpr_at_fpr, tpr_at_min_fpr
from fedrobust.privacy.membership.reference_calibrated import ReferenceCalibrated
from fedrobust.registry import Registry

MEMBERSHIP_ATTACKS: Registry[MembershipAttack] = Registry("membership-inference attack")
for _attack in (LossThreshold(), ReferenceCalibrated()):
    MEMBERSHIP_ATTACKS.register(_attack.name)(_attack)

__all__ = ["MEMBERSHIP_ATTACKS", "MembershipAttack", "MembershipTarget", "min_fpr", "pooled_membership", "roc_auc",
           "tpr_at_fpr", "tpr_at_min_fpr"]
