"""Token attributions by gradient x input: how much each token's embedding pushes a logit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from fedrobust.models.base import TextClassifier


@dataclass
class TokenAttributions:
    """Per-example attributions over the tokens the mask keeps (padding removed)."""

    input_ids: list[list[int]]
    scores: list[torch.Tensor]  # one (L_i,) tensor per example
    targets: list[int]


def grad_x_input(
    model: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    targets: Sequence[int] | None = None,
    batch_size: int = 64,
) -> TokenAttributions:
    """Sum over the embedding dimension of d logit[target] / d embedding * embedding.

    ``targets`` defaults to each example's predicted class.
    """
    was_training = model.training
    model.eval()
    all_ids: list[list[int]] = []
    all_scores: list[torch.Tensor] = []
    all_targets: list[int] = []
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start : start + batch_size]))
            ids, mask = batch["input_ids"], batch["attention_mask"]
            embeddings = model.embed(ids).detach().requires_grad_(True)
            logits = model.classify_embeddings(embeddings, mask).logits
            if targets is None:
                chosen = logits.argmax(dim=1)
            else:
                chosen = torch.as_tensor(list(targets[start : start + batch_size]), dtype=torch.long)
            picked = logits.gather(1, chosen.unsqueeze(1)).sum()
            (gradient,) = torch.autograd.grad(picked, embeddings)
            scores = (gradient * embeddings).sum(dim=-1).detach()
            for row in range(ids.shape[0]):
                keep = mask[row].bool()
                all_ids.append(ids[row][keep].tolist())
                all_scores.append(scores[row][keep])
            all_targets.extend(int(t) for t in chosen)
    finally:
        model.train(was_training)
    return TokenAttributions(input_ids=all_ids, scores=all_scores, targets=all_targets)
