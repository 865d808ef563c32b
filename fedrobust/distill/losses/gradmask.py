"""GradMASK-style robustness: hide the tokens the student leans on most and distil the teacher.

The student's gradient saliency |d loss / d e_t| picks its top-k real tokens; they are
replaced by [MASK] and the student is trained (KD at ``temperature``) towards the average of
the teacher's logits on the clean text and on the text with the teacher's own top-k
attributed tokens masked (both cached), so no single token decides the prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedrobust.distill.attribution import top_k_positions
from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext, kd_loss, special_token_mask
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.models.base import TextClassifier


@OBJECTIVES.register("gradmask")
class GradMask(Objective):
    def __init__(self, context: ObjectiveContext, top_k: int = 2, temperature: float = 2.0) -> None:
        super().__init__()
        self.top_k, self.temperature = top_k, temperature
        self.mask_token_id = context.tokenizer.mask_token_id
        self.special_ids = context.special_token_ids

    def masked_inputs(self, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        loss = F.cross_entropy(clean.output.logits, batch.labels)
        (grads,) = torch.autograd.grad(loss, clean.embeddings, retain_graph=True)
        saliency = grads.norm(dim=-1)
        candidates = (batch.attention_mask == 1) & ~special_token_mask(batch.input_ids, self.special_ids)
        chosen = top_k_positions(saliency, candidates, self.top_k)
        return batch.input_ids.masked_fill(chosen, self.mask_token_id)

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        masked_ids = self.masked_inputs(batch, clean)
        logits = student(masked_ids, batch.attention_mask)
        target = 0.5 * (batch.teacher_logits + batch.teacher_masked_logits)
        return kd_loss(logits, target, self.temperature)
