"""Integrated gradients (Sundararajan et al. 2017): (embedding - baseline) times the mean gradient
along the straight path from a baseline to the embedding, ``steps`` midpoint Riemann points (32 by
default), evaluated in batches. The attributions of a text sum to f(embedding) - f(baseline) for the
explained logit (completeness); ``TokenAttributions.completeness`` carries both sides per text, so
the approximation can be checked.

The baseline (``baseline="pad"``, the default): every ordinary token replaced by the [PAD] token's
embedding, while special tokens ([CLS], [SEP], [UNK], ...) and padding keep their own embedding
(they get zero attribution, and are never ranked or compared anyway). The model is applied to the
baseline with the text's attention mask, so it reads "a text of as many [PAD] tokens", with
positions added by the model as for any input. ``"mask"`` uses the [MASK] token, ``"zero"`` zero
vectors (the usual image-model choice; for BERT it is off the embedding manifold). Students whose
embedding table keeps a zero row for padding get the zero baseline either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from fedrobust.evaluation.attribution_base import (
    ATTRIBUTIONS, Completeness, TokenAttributions, append_unpadded, given_targets, special_ids,
)
from fedrobust.models.base import TextClassifier

IG_STEPS = 32
IG_BASELINES = ("pad", "mask", "zero")
IG_ROWS = 256  # path points (texts x steps) per forward/backward pass


def _baseline_embeddings(model: TextClassifier, tokenizer: Any, ids: torch.Tensor, mask: torch.Tensor,
                         embeddings: torch.Tensor, baseline: str) -> torch.Tensor:
    """The text's own embedding at special tokens and padding, the reference embedding elsewhere."""
    special = torch.tensor(sorted(special_ids(tokenizer)), dtype=ids.dtype)
    own = (mask == 0) | torch.isin(ids, special)
    if baseline == "zero":
        reference = torch.zeros_like(embeddings)
    else:
        token = getattr(tokenizer, "pad_token_id" if baseline == "pad" else "mask_token_id", None)
        if token is None:
            raise ValueError(f"integrated gradients baseline {baseline!r} needs a tokenizer with "
                             f"{'pad_token_id' if baseline == 'pad' else 'mask_token_id'}; use baseline='zero'")
        reference = model.embed(torch.full_like(ids, int(token)))
    return torch.where(own.unsqueeze(-1), embeddings, reference)


@dataclass(frozen=True)
class IntegratedGradientsBatch:
    """Integrated gradients of one padded batch: ``scores`` (B, L), zero at padding and special
    tokens; ``targets`` (B,) the explained classes; ``logits`` and ``baseline_logits`` (B, C) on
    the texts and on their baselines."""

    scores: torch.Tensor
    targets: torch.Tensor
    logits: torch.Tensor
    baseline_logits: torch.Tensor


def check_ig_options(steps: int, baseline: str) -> None:
    if steps < 1:
        raise ValueError(f"integrated gradients needs steps >= 1, got {steps}")
    if baseline not in IG_BASELINES:
        raise ValueError(f"unknown integrated gradients baseline {baseline!r}; one of {', '.join(IG_BASELINES)}")


def integrated_gradients_batch(
    model: TextClassifier,
    tokenizer: Any,
    ids: torch.Tensor,
    mask: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    steps: int = IG_STEPS,
    baseline: str = "pad",
    rows: int = IG_ROWS,
) -> IntegratedGradientsBatch:
    """Integrated gradients for a tokenized batch (``ids``, ``mask``), ``rows`` path points per
    forward/backward pass; the model is used as it is (call it in eval mode). ``targets`` default
    to the predicted classes. See ``integrated_gradients`` for the definition."""
    check_ig_options(steps, baseline)
    n = ids.shape[0]
    with torch.no_grad():
        x = model.embed(ids)
        b = _baseline_embeddings(model, tokenizer, ids, mask, x, baseline)
        ends = model.classify_embeddings(torch.cat([x, b]), torch.cat([mask, mask])).logits
    chosen = ends[:n].argmax(dim=1) if targets is None else targets.to(torch.long)
    delta = x - b
    gradient_sum = torch.zeros_like(x)
    alphas = ((torch.arange(steps, dtype=torch.float64) + 0.5) / steps).to(x.dtype)
    chunk = max(1, rows // n)
    for first in range(0, steps, chunk):
        a = alphas[first:first + chunk]
        path = (b.unsqueeze(1) + a.view(1, -1, 1, 1) * delta.unsqueeze(1)).reshape(n * len(a), *x.shape[1:])
        path.requires_grad_(True)
        logits = model.classify_embeddings(path, mask.repeat_interleave(len(a), dim=0)).logits
        picked = logits.gather(1, chosen.repeat_interleave(len(a)).unsqueeze(1)).sum()
        (gradient,) = torch.autograd.grad(picked, path)
        gradient_sum += gradient.detach().reshape(n, len(a), *x.shape[1:]).sum(dim=1)
    scores = (gradient_sum / steps * delta).sum(dim=-1)
    return IntegratedGradientsBatch(scores, chosen, ends[:n], ends[n:])


@ATTRIBUTIONS.register("integrated_gradients")
def integrated_gradients(
    model: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    targets: Sequence[int] | None = None,
    *,
    steps: int = IG_STEPS,
    baseline: str = "pad",
    batch_size: int = IG_ROWS,
) -> TokenAttributions:
    """Integrated gradients of logit[target] on ``model.embed`` (see the module docstring for the
    baseline and where the embedding is taken): attribution_i = sum_d (x - b)_id * mean over the
    ``steps`` midpoints alpha_k = (k + 1/2) / steps of d logit / d x_id at b + alpha_k (x - b).

    ``batch_size`` is the number of path points (texts x steps) per forward/backward pass.
    ``targets`` defaults to each example's predicted class. ``completeness`` holds, per text, the
    explained logit on the text and on the baseline and the attributions' sum (padding excluded;
    special tokens contribute 0)."""
    check_ig_options(steps, baseline)
    was_training = model.training
    model.eval()
    out = TokenAttributions([], [], [], method="integrated_gradients", completeness=[])
    per_pass = max(1, batch_size // steps)  # texts whose whole path fits one pass
    try:
        for start in range(0, len(texts), per_pass):
            batch = tokenizer(list(texts[start : start + per_pass]))
            ids, mask = batch["input_ids"], batch["attention_mask"]
            wanted = None if targets is None else given_targets(targets, start, ids.shape[0])
            result = integrated_gradients_batch(model, tokenizer, ids, mask, wanted, steps=steps, baseline=baseline,
                                                rows=batch_size)
            append_unpadded(ids, mask, result.scores, out)
            out.targets.extend(int(t) for t in result.targets)
            picked = result.targets.unsqueeze(1)
            f_x = result.logits.gather(1, picked).squeeze(1)
            f_b = result.baseline_logits.gather(1, picked).squeeze(1)
            totals = (result.scores * mask.to(result.scores.dtype)).sum(dim=1)
            out.completeness.extend(Completeness(float(fx), float(fb), float(total))
                                    for fx, fb, total in zip(f_x, f_b, totals))
    finally:
        model.train(was_training)
    return out


def completeness_gaps(attr: TokenAttributions) -> np.ndarray:
    """Relative completeness gaps (|sum - (f(x) - f(b))| / |f(x) - f(b)|) per text; empty for a
    method without a completeness property."""
    return np.array([c.relative_gap for c in attr.completeness or []], dtype=np.float64)
