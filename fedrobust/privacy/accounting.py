"""Privacy accounting with Opacus's accountants: the epsilon a device's on-device DP-SGD spent,
the user-level epsilon of DP federated rounds, and their composition into a device's total.

Conventions: epsilon is ``inf`` without noise; a model carries the report of the DP training
that produced it (``dp_report(model)``), so what is reported is what Opacus's engine counted.

A report's ``history`` is an Opacus accountant history, ``(noise_multiplier, sample_rate,
steps)`` entries, of *every* DP-SGD step on the device's data that fed the model (e.g. Ditto's
personal model across rounds, then its final fine-tune): its epsilon composes them all in one
accountant. Training on the device's data without DP enters the history as a noise-free entry
(``not_private``), which makes the epsilon infinite.

A device's total (``compose_basic``): the rounds' user-level (epsilon, delta) guarantee implies
the same record-level guarantee for each of the device's examples, and it composes with the
record-level DP-SGD guarantee by basic composition: epsilons add and deltas add.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Iterable

from torch import nn

from fedrobust.privacy.config import RoundsDPConfig

REPORT_ATTRIBUTE = "fedrobust_dp_report"

HistoryEntry = tuple[float, float, int]  # (noise multiplier, sample rate, steps), as Opacus's accountants keep them
History = tuple[HistoryEntry, ...]


@dataclass(frozen=True)
class DPReport:
    epsilon: float
    delta: float
    noise_multiplier: float  # of the last DP training
    sample_rate: float  # of the last DP training
    steps: int  # of the last DP training
    accountant: str
    history: History = ()  # every step on the device's data the epsilon covers

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def not_private(steps: int) -> History:
    """The history entry of ``steps`` steps on the device's data without DP (epsilon: inf)."""
    return ((0.0, 1.0, int(steps)),) if steps > 0 else ()


def compose(*histories: Iterable[HistoryEntry]) -> History:
    """One history of several trainings; consecutive entries of the same (sigma, rate) merge, as
    Opacus's accountants merge them."""
    merged: list[HistoryEntry] = []
    for history in histories:
        for sigma, rate, steps in history:
            if steps <= 0:
                continue
            if merged and merged[-1][:2] == (float(sigma), float(rate)):
                merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + int(steps))
            else:
                merged.append((float(sigma), float(rate), int(steps)))
    return tuple(merged)


@lru_cache(maxsize=4096)  # many devices share a history; the RDP sum is the slow part
def history_epsilon(history: History, delta: float, accountant: str = "rdp") -> float:
    """Epsilon at ``delta`` of every step in ``history`` composed in one Opacus accountant."""
    if not history:
        return 0.0
    if any(sigma <= 0 for sigma, _, _ in history):
        return math.inf
    if accountant == "gdp" and len({(sigma, rate) for sigma, rate, _ in history}) > 1:
        # Opacus's GaussianAccountant reads only its last entry: it cannot compose mixed steps
        raise ValueError("the gdp accountant cannot compose steps of different noise or sample rates; use rdp or prv")
    from opacus.accountants import create_accountant

    acc = create_accountant(accountant)
    acc.history = list(history)
    return float(acc.get_epsilon(delta=delta))


def report_for_history(history: History, delta: float, accountant: str) -> DPReport:
    """The report of a model whose on-device training is ``history`` (no further training)."""
    return DPReport(history_epsilon(compose(history), delta, accountant), delta, 0.0, 0.0, 0, accountant, compose(history))


def compose_basic(parts: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """(epsilon, delta) of mechanisms run one after the other on the same data: the sums (basic
    composition); parts with epsilon 0 spent nothing and add no delta."""
    spent = [(eps, delta) for eps, delta in parts if eps != 0]
    if any(math.isinf(eps) for eps, _ in spent):
        return math.inf, math.nan
    return float(sum(eps for eps, _ in spent)), float(sum(delta for _, delta in spent))


def epsilon_for(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """Epsilon at ``delta`` after ``steps`` subsampled Gaussian steps (Opacus's accountant)."""
    return history_epsilon(compose([(noise_multiplier, sample_rate, steps)]), delta, accountant)


@lru_cache(maxsize=1024)
def noise_for_target(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str = "rdp") -> float:
    """The noise multiplier at which ``steps`` steps spend ``target_epsilon`` (Opacus's search)."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                      steps=steps, accountant=accountant))


@lru_cache(maxsize=1024)
def noise_for_schedule(target_epsilon: float, delta: float, schedule: tuple[tuple[float, int], ...],
                       accountant: str = "rdp", tolerance: float = 0.01) -> float:
    """The one noise multiplier at which every (sample rate, steps) part of ``schedule``, composed,
    spends at most ``target_epsilon`` (and within ``tolerance`` of it): a bisection like Opacus's
    ``get_noise_multiplier``, over a history of several sample rates."""
    def spent(sigma: float) -> float:
        return history_epsilon(compose((sigma, rate, steps) for rate, steps in schedule), delta, accountant)

    low, high = 0.0, 10.0
    while spent(high) > target_epsilon:
        low, high = high, 2 * high
        if high > 1e6:
            raise ValueError(f"no noise multiplier reaches epsilon {target_epsilon} for this schedule")
    while True:
        middle = (low + high) / 2
        if spent(middle) > target_epsilon:
            low = middle
        else:
            high = middle
        if target_epsilon - spent(high) <= tolerance or high - low < 1e-6:
            return high


def record_dp_report(model: nn.Module, report: DPReport) -> None:
    setattr(model, REPORT_ATTRIBUTE, report)


def dp_report(model: nn.Module | None) -> DPReport | None:
    return getattr(model, REPORT_ATTRIBUTE, None) if model is not None else None


def clear_dp_report(model: nn.Module) -> None:
    """A model trained further without DP: whatever report it carried no longer describes it."""
    if hasattr(model, REPORT_ATTRIBUTE):
        delattr(model, REPORT_ATTRIBUTE)


def sampled_per_round(num_clients: int, fraction_train: float, min_train_clients: int) -> int:
    """How many devices the seeded strategy samples each round (fedrobust.federated.strategy)."""
    return min(num_clients, max(int(num_clients * fraction_train), min_train_clients))


def rounds_epsilon(noise_multiplier: float, num_clients: int, sampled: int, rounds: int, delta: float) -> float:
    """User-level epsilon of DP-FedAvg (McMahan et al. 2018): each round one subsampled Gaussian
    release of the clipped updates with sampling rate sampled / num_clients, composed with RDP.

    The strategy samples a fixed number of devices; the RDP bound is the Poisson-sampling one
    at the same rate, the usual approximation for DP-FedAvg.
    """
    return epsilon_for(noise_multiplier, sampled / max(1, num_clients), rounds, delta, "rdp")


def federation_epsilon(settings: RoundsDPConfig, num_clients: int, rounds: int, fraction_train: float,
                       min_train_clients: int) -> float:
    """User-level epsilon of the ``rounds`` federated rounds every device took part in (0 without
    rounds, ``inf`` for rounds without DP); the sampling is the seeded strategy's. Its delta is
    ``settings.delta``."""
    if rounds == 0:
        return 0.0
    if settings.mode == "none":
        return math.inf
    sampled = sampled_per_round(num_clients, fraction_train, min_train_clients)
    return rounds_epsilon(settings.noise_multiplier, num_clients, sampled, rounds, settings.delta)
