"""Token attributions on padded batches, taken at a model's ``embed`` output: gradient x input
(differentiable, for the student's side of the alignment objective) and the teacher's cached
attributions by either method of fedrobust.evaluation.attributions."""

from __future__ import annotations

from typing import Any

import torch

from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, IG_STEPS, integrated_gradients_batch
from fedrobust.models.base import TextClassifier

TEACHER_ATTRIBUTIONS = ("grad_x_input", "integrated_gradients")


def gradient_x_input(
    logits: torch.Tensor, embeddings: torch.Tensor, target: torch.Tensor, create_graph: bool = False
) -> torch.Tensor:
    """(B, L): sum over the embedding dimension of d logit[target] / d e_t * e_t."""
    chosen = logits.gather(1, target[:, None]).sum()
    (grads,) = torch.autograd.grad(chosen, embeddings, create_graph=create_graph)
    return (grads * embeddings).sum(dim=-1)


def attributions(
    model: TextClassifier, input_ids: torch.Tensor, attention_mask: torch.Tensor, target: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributions (B, L), logits (B, C)) for ``target`` (default: the predicted class)."""
    embeddings = model.embed(input_ids).detach().requires_grad_(True)
    logits = model.classify_embeddings(embeddings, attention_mask).logits
    if target is None:
        target = logits.argmax(dim=1)
    scores = gradient_x_input(logits, embeddings, target)
    return scores.detach() * attention_mask, logits.detach()


def teacher_attributions(
    teacher: TextClassifier, tokenizer: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
    method: str = DEFAULT_ATTRIBUTION, steps: int = IG_STEPS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(attributions (B, L), logits (B, C)) for the predicted class by ``method``: gradient x input
    or integrated gradients with ``steps`` path points and the [PAD] baseline."""
    if method == "grad_x_input":
        return attributions(teacher, input_ids, attention_mask)
    if method != "integrated_gradients":
        raise ValueError(f"unknown teacher attribution {method!r}; one of {', '.join(TEACHER_ATTRIBUTIONS)}")
    result = integrated_gradients_batch(teacher, tokenizer, input_ids, attention_mask, steps=steps)
    return result.scores.detach() * attention_mask, result.logits.detach()


def top_k_positions(scores: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean (B, L): the k positions with the largest |score| among ``candidates`` (True = allowed)."""
    ranked = scores.abs().masked_fill(~candidates, -1.0)
    k = min(k, scores.shape[1])
    top = ranked.topk(k, dim=1).indices
    chosen = torch.zeros_like(candidates)
    chosen.scatter_(1, top, True)
    return chosen & candidates
