"""The objective interface: a module computing one scalar loss from the student's clean pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.models.base import TextClassifier


@dataclass
class ObjectiveContext:
    """What objectives may need to build themselves or to refresh state between epochs."""

    num_labels: int
    student_feature_dim: int
    teacher_feature_dim: int
    tokenizer: Any  # WordPieceTokenizer
    special_token_ids: list[int]
    train_texts: list[str]
    train_labels: list[int]
    train_teacher_logits: torch.Tensor
    seed: int = 0


class Objective(nn.Module):
    """Subclasses take ``(context, **params)`` and implement ``forward(student, batch, clean)``.

    Their own parameters (projection heads) train with the student but are not part of it.
    """

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        raise NotImplementedError

    def on_epoch_start(self, student: TextClassifier, epoch: int) -> None:
        """Hook for objectives that regenerate data each epoch (discrete adversarial examples)."""


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(t / T) || softmax(s / T)), batch mean (Hinton et al. 2015)."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean")
    return kl * temperature**2


def special_token_mask(input_ids: torch.Tensor, special_ids: list[int]) -> torch.Tensor:
    return torch.isin(input_ids, torch.tensor(special_ids, dtype=input_ids.dtype))
