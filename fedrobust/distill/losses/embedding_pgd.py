"""Adversarial training in embedding space (Madry et al. 2018, as used for text by FreeLB/Zhu
et al. 2020): a few projected gradient-ascent steps on a per-token perturbation of the student's
embeddings, then the loss at the perturbed point.

The radius is ``epsilon`` times the batch's mean token-embedding norm, so one setting fits
students whose embeddings have different scales. Each example's loss is the larger of its
loss at the perturbed point and at the clean point (already computed by the clean pass), so
the objective is never below the clean loss even when an ascent step overshoots.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier


def _per_example_loss(
    logits: torch.Tensor, batch: DistillBatch, target: str, temperature: float
) -> torch.Tensor:
    if target == "ce":
        return F.cross_entropy(logits, batch.labels, reduction="none")
    log_p = F.log_softmax(logits / temperature, dim=-1)
    log_q = F.log_softmax(batch.teacher_logits / temperature, dim=-1)
    return (log_q.exp() * (log_q - log_p)).sum(dim=-1) * temperature**2


@OBJECTIVES.register("embedding_pgd")
class EmbeddingPGD(Objective):
    def __init__(
        self,
        context: ObjectiveContext,
        epsilon: float = 0.1,
        steps: int = 1,
        step_size: float | None = None,
        target: str = "kd",
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if target not in ("kd", "ce"):
            raise ConfigError(f"objectives.embedding_pgd.target must be 'kd' or 'ce', got {target!r}")
        self.epsilon, self.steps, self.target, self.temperature = epsilon, steps, target, temperature
        self.step_size = step_size if step_size is not None else 1.5 * epsilon / max(steps, 1)

    def loss_at(self, student: TextClassifier, embeddings: torch.Tensor, batch: DistillBatch) -> torch.Tensor:
        logits = student.classify_embeddings(embeddings, batch.attention_mask).logits
        return _per_example_loss(logits, batch, self.target, self.temperature)

    def perturbation(self, student: TextClassifier, embeddings: torch.Tensor, batch: DistillBatch) -> torch.Tensor:
        """(B, L, D): ``steps`` normalized gradient-ascent steps, projected on the per-token radius."""
        base = embeddings.detach()
        mask = batch.attention_mask.to(base.dtype).unsqueeze(-1)
        radius = self.epsilon * (base.norm(dim=-1, keepdim=True) * mask).sum() / mask.sum().clamp(min=1.0)
        delta = torch.zeros_like(base)
        for _ in range(self.steps):
            delta.requires_grad_(True)
            loss = self.loss_at(student, base + delta, batch)
            (grad,) = torch.autograd.grad(loss.sum(), delta)
            with torch.no_grad():
                step = grad / grad.norm(dim=-1, keepdim=True).clamp(min=1e-12)
                delta = delta + self.step_size * radius * step
                scale = (radius / delta.norm(dim=-1, keepdim=True).clamp(min=1e-12)).clamp(max=1.0)
                delta = delta * scale * mask
        return delta

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        delta = self.perturbation(student, clean.embeddings, batch)
        adversarial = self.loss_at(student, clean.embeddings + delta, batch)
        at_clean = _per_example_loss(clean.output.logits, batch, self.target, self.temperature)
        return torch.maximum(adversarial, at_clean).mean()
