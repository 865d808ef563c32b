"""Cross-entropy with the gold labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


@OBJECTIVES.register("ce")
class CrossEntropy(Objective):
    def __init__(self, context: ObjectiveContext, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        return F.cross_entropy(clean.output.logits, batch.labels, label_smoothing=self.label_smoothing)
