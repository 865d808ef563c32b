"""Gradient x input (Simonyan et al. 2013; Shrikumar et al. 2016): d logit[target] / d embedding
* embedding, summed over the embedding dimension, one backward pass. For the teacher, whose
``embed`` is BERT's word embeddings before position embeddings and LayerNorm, it mostly measures the
position (see fedrobust.evaluation.attributions)."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from fedrobust.evaluation.attribution_base import ATTRIBUTIONS, TokenAttributions, append_unpadded, chosen_targets
from fedrobust.models.base import TextClassifier


@ATTRIBUTIONS.register("grad_x_input")
def grad_x_input(
    model: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    targets: Sequence[int] | None = None,
    batch_size: int = 64,
) -> TokenAttributions:
    """Sum over the embedding dimension of d logit[target] / d embedding * embedding.

    ``targets`` defaults to each example's predicted class. See the module docstring for where the
    embedding is taken (the teacher: word embeddings, before position embeddings and LayerNorm).
    """
    was_training = model.training
    model.eval()
    out = TokenAttributions([], [], [], method="grad_x_input")
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start : start + batch_size]))
            ids, mask = batch["input_ids"], batch["attention_mask"]
            embeddings = model.embed(ids).detach().requires_grad_(True)
            logits = model.classify_embeddings(embeddings, mask).logits
            chosen = chosen_targets(logits, targets, start)
            picked = logits.gather(1, chosen.unsqueeze(1)).sum()
            (gradient,) = torch.autograd.grad(picked, embeddings)
            append_unpadded(ids, mask, (gradient * embeddings).sum(dim=-1).detach(), out)
            out.targets.extend(int(t) for t in chosen)
    finally:
        model.train(was_training)
    return out
