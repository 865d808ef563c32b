"""User-level DP in the federated rounds: Flower's server-side DP strategy wrappers
(``DifferentialPrivacyServerSide{Fixed,Adaptive}Clipping``) around the seeded strategy.

Each sampled device's update (its weights minus the round's global weights) is clipped to
``clipping_norm`` (fixed, or adapted toward a target quantile of the update norms, Andrew et al.
2021), the clipped updates are averaged with equal weights, and Gaussian noise of
``noise_multiplier * clipping_norm / m`` is added (McMahan et al. 2018), ``m`` the number of
updates averaged. Equal weights keep one device's influence on the mean at ``clipping_norm / m``,
which is what that noise covers; averaging by example counts would not. The accounting is in
``fedrobust.privacy.accounting.rounds_epsilon``.

Failures: Flower's wrappers size the noise for the devices sampled, but the mean is taken over the
``m`` devices that answered; here the noise is sized for those ``m`` (``num_sampled_clients`` is set
to ``m`` before the wrapper aggregates), so the noise-to-sensitivity ratio stays
``noise_multiplier`` in every round. The accountant assumes the configured sampling (a device's
chance of being in a round); a device that fails is simply absent from that round's mean, and a
failure does not depend on the data of the other devices. Each round's ``m``, clipping bound and
noise std are recorded (``round_record``, rounds.csv's dp_* columns).

The strategy is duck typed: any seeded FedAvg-family strategy with ``devices_of``, ``seed``,
``fraction_train``, ``min_train_nodes`` and ``uniform_weights`` (fedrobust.federated.strategy).
The federated server wraps its strategy with ``with_round_privacy`` when it builds it.

Flower wants the number of sampled devices when the wrapper is built; it is known once the
server has mapped devices to nodes, so the wrapper is built when ``devices_of`` is set.

Flower 1.41's adaptive update, C <- C exp(-lr (clipped_fraction - target)), shrinks the bound
when too many updates are clipped, which clips even more (it runs away from its target);
Andrew et al.'s rule grows it. ``StableAdaptiveClipping`` flips that one sign. Flower also updates
the bound before it adds the round's noise; the round's mean was clipped to the bound before the
update, so that is the bound its noise is sized for here. The bound is the wrapper's only state
between rounds (its noise is seeded per round): ``state`` / ``restore`` carry it through a
checkpoint, so a resumed run goes on with the bound the killed one had reached.
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
from flwr.supercore.differential_privacy import compute_stdv

from fedrobust.errors import ConfigError
from fedrobust.privacy.accounting import sampled_per_round
from fedrobust.privacy.config import RoundsDPConfig
from fedrobust.seeding import derive_seed


class StableAdaptiveClipping(DifferentialPrivacyServerSideAdaptiveClipping):
    """Flower's server-side adaptive clipping with the bound moving toward ``target_clipped_quantile``."""

    round_clipping_norm: float | None = None  # the bound this round's updates were clipped to

    def _geometric_update(self, clipped_fraction: float) -> None:
        self.clipping_norm *= math.exp(self.clip_norm_lr * (clipped_fraction - self.target_clipped_quantile))

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        self.round_clipping_norm = self.clipping_norm
        return super().aggregate_train(server_round, replies)

    def _add_noise_to_aggregated_arrays(self, aggregated: ArrayRecord) -> ArrayRecord:
        updated, self.clipping_norm = self.clipping_norm, self.round_clipping_norm
        try:
            return super()._add_noise_to_aggregated_arrays(aggregated)
        finally:
            self.clipping_norm = updated


class RoundPrivacy:
    """Looks like the seeded strategy to the server; aggregates through Flower's DP wrapper."""

    def __init__(self, strategy, settings: RoundsDPConfig) -> None:
        self.strategy, self.settings = strategy, settings
        self.strategy.uniform_weights = True
        self.dp_strategy = None
        self.last_round: dict[str, float] = {}  # the last aggregated round's dp_* record

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
        # a reply whose devices all failed carries no update (fedrobust.federated.cohorts)
        replies = [r for r in replies if r.content.array_records]
        averaged = sum(len(r.content.array_records) for r in replies)
        if averaged == 0:
            self.last_round = {}
            return None, None
        dp = self.dp_strategy
        dp.num_sampled_clients = averaged  # the mean is over these: noise std sigma * C / averaged
        clipping_norm = dp.clipping_norm
        # Flower draws its noise from NumPy's global generator: seed it per round, so that a run
        # (and a resumed one) is reproducible like the rest of the federation.
        np.random.seed(derive_seed(self.strategy.seed, "round-dp-noise", server_round))
        result = dp.aggregate_train(server_round, replies)
        self.last_round = {"dp_averaged": averaged, "dp_clipping_norm": clipping_norm,
                           "dp_noise_std": compute_stdv(dp.noise_multiplier, clipping_norm, averaged)}
        return result

    def state(self) -> dict[str, float]:
        """What the wrapper carries from one round to the next (the adaptive clipping bound)."""
        return {"clipping_norm": float(self.dp_strategy.clipping_norm)}

    def restore(self, state: dict[str, float]) -> None:
        if "clipping_norm" in state:
            self.dp_strategy.clipping_norm = float(state["clipping_norm"])

    def __getattr__(self, name: str):  # anything else the server reads, e.g. sampling settings
        return getattr(self.strategy, name)


def with_round_privacy(strategy, settings: RoundsDPConfig):
    """``strategy`` itself without round DP, else wrapped with the configured Flower DP wrapper."""
    return strategy if settings.mode == "none" else RoundPrivacy(strategy, settings)


def round_record(strategy) -> dict[str, float]:
    """The last round's dp_* record (updates averaged, clipping bound, noise std); {} without round DP."""
    return dict(strategy.last_round) if isinstance(strategy, RoundPrivacy) else {}


def round_state(strategy) -> dict[str, float]:
    """The round-DP state a checkpoint keeps; {} without round DP."""
    return strategy.state() if isinstance(strategy, RoundPrivacy) else {}


def restore_round_state(strategy, state: dict[str, float]) -> None:
    """Continue from a checkpoint's round-DP state (once the wrapper is built: after ``devices_of``)."""
    if isinstance(strategy, RoundPrivacy) and state:
        strategy.restore(state)
