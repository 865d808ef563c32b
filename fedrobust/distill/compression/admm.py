"""ADMM for training under ATMC's compression constraints (Gui et al. 2019, "Model Compression
with Adversarial Robustness: A Unified Optimization Framework", NeurIPS; the ADMM splitting of
Zhang et al. 2018, "A Systematic DNN Weight Pruning Framework using ADMM").

The constrained problem min_W loss(W) s.t. W in S is split as min loss(W) + I_S(Z) s.t. W = Z,
with scaled dual variables U. Each optimizer step minimises the augmented Lagrangian

    loss(W) + rho/2 * sum_t ||W_t - Z_t + U_t||^2

over W (the loss is the run's objectives: adversarial ones included, so the constrained model is
trained adversarially); every ``admm_every`` steps (or at each epoch's end)

    Z <- Proj_S(W + U)        (projection.py: sparsity, then grid, on every stored tensor)
    U <- U + W - Z

and rho grows geometrically from ``rho`` (the first W-steps) to ``rho_final`` (the last ones); U is
rescaled by rho_old / rho_new, which keeps the unscaled dual rho * U unchanged. The schedule is set
by its ends, not by a growth per update, so it does not depend on how many steps an epoch has.
The rank constraint is not split off: the factorized maps are trained through their factors
(projection.py, step 1). The projection is idempotent, so a fixed point has W = Z; the primal
residual ||W - Z|| / ||W|| is logged at every update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from fedrobust.config_schema import AT_LEAST_ONE, BELOW_ONE, NON_NEGATIVE, POSITIVE, Limit
from fedrobust.distill.compression.projection import project
from fedrobust.distill.trainer import TrainingHook
from fedrobust.errors import ConfigError
from fedrobust.models.packed import MAX_BITS, MIN_BITS


@dataclass
class AtmcSettings:
    """``compression.atmc``: the constraint set and the ADMM schedule."""

    sparsity: float = 0.5  # share of zeros in every stored weight tensor (each factor of a factorized map)
    rank_ratio: float = 0.25  # rank = ratio * min(in, out) for every linear map a factorization shrinks; 0: none
    bits: int = 4  # every weight tensor on a symmetric uniform grid of 2^bits - 1 levels, one scale per tensor
    rho: float = 0.01  # ADMM penalty of the first W-steps, growing geometrically at every Z/U update ...
    rho_final: float = 10.0  # ... to this for the last ones
    admm_epochs: int = 4  # epochs of ADMM training after the dense train.epochs
    # optimizer steps between Z/U updates, None: at the end of every epoch. Each W-step (the steps
    # between two updates) must move W: a toy regression under Adam converged with 100-200, not 10.
    admm_every: int | None = 100
    qat_epochs: int = 2  # epochs of quantization-aware fine-tuning after the hard projection; 0: none

    LIMITS: ClassVar[dict[str, Limit]] = {
        "sparsity": BELOW_ONE, "rank_ratio": BELOW_ONE, "bits": Limit(MIN_BITS, MAX_BITS), "rho": POSITIVE,
        "rho_final": POSITIVE, "admm_epochs": AT_LEAST_ONE, "admm_every": AT_LEAST_ONE,
        "qat_epochs": NON_NEGATIVE}

    def updates(self, steps_per_epoch: int, where: str = "compression.atmc") -> int:
        """Z/U updates that training follows in the ADMM phase (an update at the phase's very end
        is not); ConfigError naming the key when there is none."""
        steps = self.admm_epochs * steps_per_epoch
        if self.admm_every is None:
            updates, what = self.admm_epochs - 1, f"{where}.admm_epochs={self.admm_epochs} with epoch-end updates"
        else:
            updates = steps // self.admm_every - (steps % self.admm_every == 0)
            what = f"{where}.admm_every={self.admm_every} in the ADMM phase's {steps} optimizer steps"
        if updates < 1:
            raise ConfigError(f"config key {what}: no Z/U update would happen while training; ADMM needs at least "
                              f"one (lower {where}.admm_every or raise {where}.admm_epochs)")
        return updates


class ADMM(TrainingHook):
    """The augmented-Lagrangian penalty and the Z/U updates for the parameters ``names`` of ``model``;
    rho reaches ``settings.rho_final`` after ``updates`` updates and stays there."""

    def __init__(self, model: nn.Module, names: list[str], settings: AtmcSettings, updates: int) -> None:
        self.params = {name: model.get_parameter(name) for name in names}
        self.settings = settings
        self.rho = settings.rho
        self.growth = (settings.rho_final / settings.rho) ** (1 / max(updates, 1))
        self.steps = 0
        self.z = {name: self._project(p.detach()) for name, p in self.params.items()}
        self.u = {name: torch.zeros_like(p) for name, p in self.params.items()}
        self.residuals: list[dict[str, float]] = [{"step": 0, "rho": self.rho, "residual": self.residual()}]

    def _project(self, weight: torch.Tensor) -> torch.Tensor:
        return project(weight, self.settings.sparsity, self.settings.bits)[0]

    @staticmethod
    def _dual(u: torch.Tensor, w: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return u + w - z

    def penalty(self, student: nn.Module) -> torch.Tensor:
        total = sum(((p - self.z[n] + self.u[n]) ** 2).sum() for n, p in self.params.items())
        return self.rho / 2 * total

    @torch.no_grad()
    def residual(self) -> float:
        """||W - Z|| / ||W|| over all targets: how far the weights are from the constraint set's point."""
        gap = sum(float(((p - self.z[n]) ** 2).sum()) for n, p in self.params.items())
        size = sum(float((p**2).sum()) for p in self.params.values())
        return (gap / size) ** 0.5 if size > 0 else 0.0

    @torch.no_grad()
    def update(self) -> None:
        """Z <- Proj(W + U), U <- U + W - Z, then the rho step (U rescaled with it)."""
        for name, p in self.params.items():
            self.z[name] = self._project(p.detach() + self.u[name])
            self.u[name] = self._dual(self.u[name], p.detach(), self.z[name])
        grown = min(self.rho * self.growth, self.settings.rho_final)
        for name in self.u:
            self.u[name] = self.u[name] * (self.rho / grown)
        self.rho = grown
        self.residuals.append({"step": self.steps, "rho": self.rho, "residual": self.residual()})

    def after_step(self, student: nn.Module) -> None:
        self.steps += 1
        if self.settings.admm_every is not None and self.steps % self.settings.admm_every == 0:
            self.update()

    def end_epoch(self, student: nn.Module) -> dict[str, float]:
        if self.settings.admm_every is None:
            self.update()
        return {"admm_rho": self.rho, "admm_residual": self.residuals[-1]["residual"]}
