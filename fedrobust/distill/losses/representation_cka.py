"""Explainable feature mapping by linear CKA (Kornblith et al. 2019) between the batch's student
and teacher feature matrices; loss = 1 - CKA. CKA is invariant to rotations and scale, so it
needs no projection between the two feature spaces."""

from __future__ import annotations

import torch

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


def linear_cka(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    cross = (y.T @ x).pow(2).sum()
    return cross / ((x.T @ x).norm() * (y.T @ y).norm() + eps)


@OBJECTIVES.register("representation_cka")
class RepresentationCKA(Objective):
    def __init__(self, context: ObjectiveContext) -> None:
        super().__init__()

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        return 1.0 - linear_cka(clean.output.features, batch.teacher_features)
