"""Low-rank linear maps: W (out x in) stored as B (out x r) @ A (r x in)."""

from __future__ import annotations

import torch
from torch import nn


class LowRankLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))

    @classmethod
    def from_linear(cls, linear: nn.Linear, rank: int) -> "LowRankLinear":
        """The best rank-r approximation of ``linear`` (truncated SVD, singular values split evenly)."""
        layer = cls(linear.in_features, linear.out_features, rank, bias=linear.bias is not None)
        u, s, vh = torch.linalg.svd(linear.weight.detach(), full_matrices=False)
        root = s[:rank].sqrt()
        with torch.no_grad():
            layer.up.weight.copy_(u[:, :rank] * root)
            layer.down.weight.copy_(root[:, None] * vh[:rank])
            if linear.bias is not None:
                layer.up.bias.copy_(linear.bias.detach())
        return layer


def linear_or_low_rank(in_features: int, out_features: int, rank: int | None, bias: bool = True) -> nn.Module:
    if rank is None or rank <= 0 or rank >= min(in_features, out_features):
        return nn.Linear(in_features, out_features, bias=bias)
    return LowRankLinear(in_features, out_features, rank, bias=bias)


def replace_with_low_rank(model: nn.Module, ranks: dict[str, int], from_weights: bool = True) -> None:
    """Swap the named nn.Linear submodules for LowRankLinear (SVD of the current weights if asked)."""
    for path, rank in ranks.items():
        parent_path, _, child = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        linear = getattr(parent, child)
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"{path} is {type(linear).__name__}, not nn.Linear")
        if from_weights:
            new = LowRankLinear.from_linear(linear, rank)
        else:
            new = LowRankLinear(linear.in_features, linear.out_features, rank, bias=linear.bias is not None)
        setattr(parent, child, new)
