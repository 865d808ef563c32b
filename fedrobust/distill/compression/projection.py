"""ATMC's constraint set (Gui et al. 2019, NeurIPS) and the projection onto it.

Every weight matrix (a parameter of 2+ dims: linear maps, recurrent and convolution kernels,
embedding tables) is constrained. The constraints compose in this order:

1. rank: each linear map that ``low_rank_plan`` shrinks at ``rank_ratio`` is replaced by its
   truncated SVD, W ~ B A with the singular values split evenly (Eckart-Young: the nearest rank-r
   matrix), once, when constrained training starts. From then on the factors are the variables,
   as in the paper, whose W = UV + C is optimised through U and V: rank <= r holds by shape
   through all of the training. (Projecting a dense W onto "rank r with sparse quantized factors"
   at every ADMM step is not idempotent: the SVD of a product of sparse factors does not give
   those factors back, so ADMM would have no fixed point with W = Z.)
2. sparsity, on every stored tensor (each factor of a factorized map): keep the (1 - sparsity)
   share of largest magnitudes, exactly n - int(sparsity * n) entries: the nearest point with that
   many zeros;
3. quantization of the kept entries onto the tensor's ``bits``-bit grid
   (fedrobust.models.packed.to_grid), never to zero, so step 2's support survives.

``project`` (steps 2-3) is idempotent: a tensor on the set projects onto itself. The paper's
extra sparse residual C and its non-uniform levels are left out: W = B A (or W), uniform levels.
"""

from __future__ import annotations

import torch
from torch import nn

from fedrobust.distill.compression.low_rank import factorize
from fedrobust.models.packed import to_grid


def factorize_for_constraints(model: nn.Module, rank_ratio: float) -> dict[str, int]:
    """Step 1 in place (the same maps and ranks as post-hoc factorization); {module path: rank}."""
    return factorize(model, rank_ratio) if rank_ratio > 0 else {}


def constrained_names(model: nn.Module) -> list[str]:
    """The parameters steps 2-3 constrain: every floating-point weight of 2+ dims."""
    return [name for name, p in model.named_parameters() if p.dim() >= 2 and p.is_floating_point()]


def keep_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """True on the largest-magnitude entries, exactly n - int(sparsity * n) of them, whatever the ties."""
    flat = weight.detach().abs().reshape(-1)
    kept = flat.numel() - int(sparsity * flat.numel())
    mask = torch.zeros(flat.numel(), dtype=torch.bool)
    mask[torch.topk(flat, kept, sorted=False).indices] = True
    return mask.reshape(weight.shape)


@torch.no_grad()
def project(weight: torch.Tensor, sparsity: float, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(nearest point on the set, its kept mask): steps 2 and 3 for one stored tensor."""
    keep = keep_mask(weight, sparsity)
    return to_grid(weight, keep, bits), keep
