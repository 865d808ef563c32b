"""Knowledge distillation: KL between temperature-softened teacher and student distributions."""

from __future__ import annotations

import torch

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext, kd_loss
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


@OBJECTIVES.register("kd")
class KnowledgeDistillation(Objective):
    def __init__(self, context: ObjectiveContext, temperature: float = 2.0) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        return kd_loss(clean.output.logits, batch.teacher_logits, self.temperature)
