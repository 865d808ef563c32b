"""User-level DP in the federated rounds: Flower's server-side DP strategy wrappers
(``DifferentialPrivacyServerSide{Fixed,Adaptive}Clipping``) around the seeded strategy.

Each sampled device's update (its weights minus the round's global weights) is clipped to
``clipping_norm`` (fixed, or adapted toward a target quantile of the update norms, Andrew et al.
2021), the clipped updates are averaged with equal weights, and Gaussian noise of
``noise_multiplier * clipping_norm / sampled`` is added (McMahan et al. 2018). Equal weights keep
one device's influence at ``clipping_norm / sampled``, which is what that noise covers; averaging
by example counts would not. The accounting is in ``fedrobust.privacy.accounting.rounds_epsilon``.

The strategy is duck typed: any seeded FedAvg-family strategy with ``devices_of``, ``seed``,
``fraction_train``, ``min_train_nodes`` and ``uniform_weights`` (fedrobust.federated.strategy).
The federated server wraps its strategy with ``with_round_privacy`` when it builds it.

Flower wants the number of sampled devices when the wrapper is built; it is known once the
server has mapped devices to nodes, so the wrapper is built when ``devices_of`` is set.

Flower 1.41's adaptive update, C <- C exp(-lr (clipped_fraction - target)), shrinks the bound
when too many updates are clipped, which clips even more (it runs away from its target);
Andrew et al.'s rule grows it. ``StableAdaptiveClipping`` flips that one sign.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
)

from fedrobust.errors import ConfigError
from fedrobust.privacy.accounting import sampled_per_round
from fedrobust.privacy.config import RoundsDPConfig
from fedrobust.seeding import derive_seed


class StableAdaptiveClipping(DifferentialPrivacyServerSideAdaptiveClipping):
    """Flower's server-side adaptive clipping with the bound moving toward ``target_clipped_quantile``."""

    def _geometric_update(self, clipped_fraction: float) -> None:
        self.clipping_norm *= math.exp(self.clip_norm_lr * (clipped_fraction - self.target_clipped_quantile))


class RoundPrivacy:
    """Looks like the seeded strategy to the server; aggregates through Flower's DP wrapper."""

    def __init__(self, strategy, settings: RoundsDPConfig) -> None:
        self.strategy, self.settings = strategy, settings
        self.strategy.uniform_weights = True
        self.dp_strategy = None

    @property
    def devices_of(self) -> dict[int, list[int]]:
        return self.strategy.devices_of

    @devices_of.setter
    def devices_of(self, mapping: dict[int, list[int]]) -> None:
        self.strategy.devices_of = mapping
        num_devices = sum(len(devices) for devices in mapping.values())
        sampled = sampled_per_round(num_devices, self.strategy.fraction_train, self.strategy.min_train_nodes)
        self.dp_strategy = self._wrap(sampled)

    def _wrap(self, sampled: int):
        s = self.settings
        if s.mode == "server_fixed":
            return DifferentialPrivacyServerSideFixedClipping(self.strategy, s.noise_multiplier, s.clipping_norm, sampled)
        try:
            return StableAdaptiveClipping(
                self.strategy, s.noise_multiplier, sampled, initial_clipping_norm=s.clipping_norm,
                target_clipped_quantile=s.target_clipped_quantile, clip_norm_lr=s.clip_norm_lr,
                clipped_count_stddev=s.clipped_count_stddev)
        except ValueError as exc:  # the clipped-count noise must leave room for the update noise
            raise ConfigError(f"config keys privacy.rounds.noise_multiplier / clipped_count_stddev with {sampled} "
                              f"devices a round: {exc}") from None

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        return self.dp_strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        # Flower draws its noise from NumPy's global generator: seed it per round, so that a run
        # (and a resumed one) is reproducible like the rest of the federation.
        np.random.seed(derive_seed(self.strategy.seed, "round-dp-noise", server_round))
        return self.dp_strategy.aggregate_train(server_round, replies)

    def __getattr__(self, name: str):  # anything else the server reads, e.g. sampling settings
        return getattr(self.strategy, name)


def with_round_privacy(strategy, settings: RoundsDPConfig):
    """``strategy`` itself without round DP, else wrapped with the configured Flower DP wrapper."""
    return strategy if settings.mode == "none" else RoundPrivacy(strategy, settings)
