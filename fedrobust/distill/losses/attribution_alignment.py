"""Explanation alignment: the student's gradient x input token attributions for the teacher's
predicted class should point the same way as the teacher's on the same tokens (shared WordPiece
ids make positions correspond). Loss = 1 - cosine over the real tokens; differentiable through
the student's gradient (double backpropagation)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedrobust.distill.attribution import gradient_x_input
from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


def attribution_alignment_loss(
    student_attr: torch.Tensor, teacher_attr: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    mask = attention_mask.to(student_attr.dtype)
    return (1.0 - F.cosine_similarity(student_attr * mask, teacher_attr * mask, dim=1, eps=1e-8)).mean()


@OBJECTIVES.register("attribution_alignment")
class AttributionAlignment(Objective):
    def __init__(self, context: ObjectiveContext) -> None:
        super().__init__()

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        target = batch.teacher_logits.argmax(dim=1)
        student_attr = gradient_x_input(clean.output.logits, clean.embeddings, target, create_graph=True)
        return attribution_alignment_loss(student_attr, batch.teacher_attributions, batch.attention_mask)
