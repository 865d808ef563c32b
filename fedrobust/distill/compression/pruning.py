"""Global magnitude pruning (Han et al. 2015) of a model's weight matrices to a target sparsity.

Matrices and embedding tables are pruned together by one magnitude threshold; the masks are
kept so fine-tuning can re-apply them after every optimizer step.
"""

from __future__ import annotations

import torch
from torch import nn


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.dim() >= 2}


def magnitude_prune(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Zero the smallest-|w| fraction ``sparsity`` of all prunable weights; returns the keep masks."""
    params = prunable_parameters(model)
    if sparsity <= 0.0 or not params:
        return {}
    magnitudes = torch.cat([p.detach().abs().flatten() for p in params.values()])
    k = int(sparsity * magnitudes.numel())
    if k == 0:
        return {}
    threshold = magnitudes.kthvalue(k).values
    masks = {}
    for name, p in params.items():
        masks[name] = p.detach().abs() > threshold
    apply_masks(model, masks)
    return masks


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    if not masks:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)


def sparsity(model: nn.Module) -> float:
    """Fraction of exact zeros among the prunable weights."""
    params = prunable_parameters(model).values()
    total = sum(p.numel() for p in params)
    zeros = sum(int((p == 0).sum()) for p in params)
    return zeros / total if total else 0.0
