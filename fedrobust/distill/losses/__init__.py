"""Distillation objectives, one file each; importing this package registers them in OBJECTIVES."""

from fedrobust.distill.losses import (  # noqa: F401  (registration)
    attribution_alignment,
    ce,
    discrete_adversarial,
    embedding_pgd,
    gradmask,
    kd,
    representation_cka,
    representation_infonce,
    representation_mse,
)
from fedrobust.distill.losses.base import Objective, ObjectiveContext, kd_loss
from fedrobust.distill.losses.registry import OBJECTIVES

__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "kd_loss"]
