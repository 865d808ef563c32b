"""Low-rank factorization of a trained model's linear maps (incl. FastGRNN's recurrent W, U).

Each nn.Linear whose rank-r factorization (r = ratio * min(in, out)) has fewer parameters than
the dense map is replaced by its truncated SVD; io records the layout so the artifact reloads.
"""

from __future__ import annotations

from torch import nn

from fedrobust.models.lowrank import replace_with_low_rank


# These read their linears' .weight directly instead of calling them, so they stay dense.
_OPAQUE = (nn.MultiheadAttention, nn.TransformerEncoderLayer)


def low_rank_plan(model: nn.Module, ratio: float, min_dim: int = 16) -> dict[str, int]:
    opaque = [name + "." for name, m in model.named_modules() if isinstance(m, _OPAQUE)]
    plan = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or min(module.in_features, module.out_features) < min_dim:
            continue
        if any(name.startswith(prefix) for prefix in opaque):
            continue
        rank = max(1, int(ratio * min(module.in_features, module.out_features)))
        if rank * (module.in_features + module.out_features) < module.in_features * module.out_features:
            plan[name] = rank
    return plan


def factorize(model: nn.Module, ratio: float) -> dict[str, int]:
    """Apply the plan in place; returns {module path: rank}."""
    plan = low_rank_plan(model, ratio)
    replace_with_low_rank(model, plan, from_weights=True)
    return plan
