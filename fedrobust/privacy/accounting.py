"""Privacy accounting with Opacus's accountants: the epsilon a device's DP personalization spent,
and the user-level epsilon of DP federated rounds.

Conventions: epsilon is ``inf`` without noise; a model carries the report of the DP training
that produced it (``dp_report(model)``), so what is reported is what Opacus's engine counted.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

from torch import nn

from fedrobust.privacy.config import RoundsDPConfig

REPORT_ATTRIBUTE = "fedrobust_dp_report"


@dataclass(frozen=True)
class DPReport:
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    accountant: str

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@lru_cache(maxsize=4096)  # many devices share (sigma, rate, steps); the RDP sum is the slow part
def epsilon_for(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """Epsilon at ``delta`` after ``steps`` subsampled Gaussian steps (Opacus's accountant)."""
    if steps == 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    from opacus.accountants import create_accountant

    acc = create_accountant(accountant)
    acc.history = [(noise_multiplier, sample_rate, steps)]
    return float(acc.get_epsilon(delta=delta))


@lru_cache(maxsize=1024)
def noise_for_target(target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str = "rdp") -> float:
    """The noise multiplier at which ``steps`` steps spend ``target_epsilon`` (Opacus's search)."""
    from opacus.accountants.utils import get_noise_multiplier

    return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=sample_rate,
                                      steps=steps, accountant=accountant))


def record_dp_report(model: nn.Module, report: DPReport) -> None:
    setattr(model, REPORT_ATTRIBUTE, report)


def dp_report(model: nn.Module | None) -> DPReport | None:
    return getattr(model, REPORT_ATTRIBUTE, None) if model is not None else None


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
    rounds, ``inf`` for rounds without DP); the sampling is the seeded strategy's."""
    if rounds == 0:
        return 0.0
    if settings.mode == "none":
        return math.inf
    sampled = sampled_per_round(num_clients, fraction_train, min_train_clients)
    return rounds_epsilon(settings.noise_multiplier, num_clients, sampled, rounds, settings.delta)
