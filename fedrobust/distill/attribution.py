"""Token attributions by gradient x input, taken at a model's ``embed`` output."""

from __future__ import annotations

import torch

from fedrobust.models.base import TextClassifier


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


def top_k_positions(scores: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean (B, L): the k positions with the largest |score| among ``candidates`` (True = allowed)."""
    ranked = scores.abs().masked_fill(~candidates, -1.0)
    k = min(k, scores.shape[1])
    top = ranked.topk(k, dim=1).indices
    chosen = torch.zeros_like(candidates)
    chosen.scatter_(1, top, True)
    return chosen & candidates
