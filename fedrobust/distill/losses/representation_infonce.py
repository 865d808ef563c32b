"""Explainable feature mapping by InfoNCE (van den Oord et al. 2018), a lower bound on the mutual
information between student and teacher representations: each student vector, projected, must
pick its own teacher vector among the batch's (log B - loss <= I(student; teacher))."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


@OBJECTIVES.register("representation_infonce")
class RepresentationInfoNCE(Objective):
    def __init__(self, context: ObjectiveContext, temperature: float = 0.1, projection_dim: int = 64) -> None:
        super().__init__()
        self.temperature = temperature
        self.student_head = nn.Linear(context.student_feature_dim, projection_dim)
        self.teacher_head = nn.Linear(context.teacher_feature_dim, projection_dim)

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        s = F.normalize(self.student_head(clean.output.features), dim=-1)
        t = F.normalize(self.teacher_head(batch.teacher_features), dim=-1)
        scores = s @ t.T / self.temperature
        targets = torch.arange(scores.shape[0])
        return 0.5 * (F.cross_entropy(scores, targets) + F.cross_entropy(scores.T, targets))
