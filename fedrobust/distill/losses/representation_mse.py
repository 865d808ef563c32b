"""Explainable feature mapping by regression: a learned projection of the student's pooled
features onto the teacher's, compared as unit vectors (MSE of normalized vectors = 2 - 2 cos)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


@OBJECTIVES.register("representation_mse")
class RepresentationMSE(Objective):
    def __init__(self, context: ObjectiveContext) -> None:
        super().__init__()
        self.projection = nn.Linear(context.student_feature_dim, context.teacher_feature_dim)

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        projected = F.normalize(self.projection(clean.output.features), dim=-1)
        target = F.normalize(batch.teacher_features, dim=-1)
        return (projected - target).pow(2).sum(dim=-1).mean()
