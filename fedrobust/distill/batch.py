"""What an objective sees for one training batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedrobust.models.base import ClassifierOutput


@dataclass
class DistillBatch:
    input_ids: torch.Tensor  # (B, L) teacher WordPiece ids
    attention_mask: torch.Tensor  # (B, L)
    labels: torch.Tensor  # (B,)
    teacher_logits: torch.Tensor  # (B, C)
    teacher_features: torch.Tensor  # (B, H_teacher)
    teacher_attributions: torch.Tensor  # (B, L) gradient x input for the teacher's predicted class
    teacher_masked_logits: torch.Tensor  # (B, C) teacher logits with its top-k attributed tokens masked


@dataclass
class StudentPass:
    """The student's clean forward pass, shared by all objectives of a step."""

    embeddings: torch.Tensor  # (B, L, D), part of the graph so gradients w.r.t. it exist
    output: ClassifierOutput
