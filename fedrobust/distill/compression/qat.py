"""ATMC's last phase (Gui et al. 2019, NeurIPS): the hard projection onto the constraint set and
quantization-aware fine-tuning with its masks fixed.

``hard_project`` puts every constrained tensor (each factor of a factorized map) on its grid, with
its support (the kept mask) fixed from then on.
``FakeQuantization`` then fine-tunes with a straight-through estimator: the model always holds the
grid values (forward passes, adversarial examples and validation all see the deployed model);
the gradient at the grid point is applied to a full-precision latent copy, which is masked and
projected back onto the grid after every step (BinaryConnect-style weight swapping, so it works
for any module, nn.GRU's flat weights included).
"""

from __future__ import annotations

import torch
from torch import nn

from fedrobust.distill.compression.projection import project
from fedrobust.distill.trainer import TrainingHook
from fedrobust.models.packed import to_grid


@torch.no_grad()
def hard_project(model: nn.Module, names: list[str], sparsity: float, bits: int
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Put the parameters ``names`` of ``model`` on the constraint set in place; returns their keep
    masks and their masked full-precision values (the fine-tuning's latent weights)."""
    masks, latent = {}, {}
    for name in names:
        p = model.get_parameter(name)
        grid, masks[name] = project(p, sparsity, bits)
        latent[name] = p.detach() * masks[name]
        p.copy_(grid)
    return masks, latent


class FakeQuantization(TrainingHook):
    """Straight-through quantization-aware training with fixed masks (see the module docstring)."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor], latent: dict[str, torch.Tensor],
                 bits: int) -> None:
        self.params = {name: model.get_parameter(name) for name in masks}
        self.masks, self.latent, self.bits = masks, {n: t.clone() for n, t in latent.items()}, bits

    @torch.no_grad()
    def before_step(self, student: nn.Module) -> None:
        for name, p in self.params.items():  # the gradient was taken at the grid point: d grid / d latent := 1
            p.copy_(self.latent[name])

    @torch.no_grad()
    def after_step(self, student: nn.Module) -> None:
        for name, p in self.params.items():
            p.mul_(self.masks[name])
            self.latent[name] = p.detach().clone()
            p.copy_(to_grid(p, self.masks[name], self.bits))

    @torch.no_grad()
    def finalize(self, model: nn.Module) -> None:
        """Project the weights the model holds (e.g. the best epoch's) onto the grid once more:
        a no-op on grid values, and exactness whatever the training loop restored."""
        for name in self.masks:
            p = model.get_parameter(name)
            p.copy_(to_grid(p, self.masks[name], self.bits))
