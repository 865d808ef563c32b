"""FedProx (Li et al. 2020): FedAvg with a proximal term mu/2 ||w - w_global||^2 in local training.

    algorithm: {fedprox: {mu: 0.01}}

Flower's FedProx strategy is FedAvg's aggregation plus sending ``proximal-mu`` to the clients each
round. Here mu is part of the algorithm's settings, which every device already receives with the
config, so FedProx aggregates with the same seeded FedAvg strategy as the others and only its
local objective differs (the ``penalty`` hook).
"""

from __future__ import annotations

from dataclasses import dataclass

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall
from fedrobust.federated.algorithms.proximal import ProximalPull, proximal_pull
from fedrobust.federated.algorithms.registry import register_algorithm


@dataclass(frozen=True)
class FedProxParams:
    mu: float = 0.01  # strength of the pull toward the round's global model

    def validate(self, where: str) -> None:
        if self.mu < 0:
            raise ConfigError(f"config key {where}.mu must be >= 0, got {self.mu}")


@register_algorithm
class FedProx(Algorithm):
    name = "fedprox"
    Params = FedProxParams
    personalizes = False

    def penalty(self, call: ClientCall) -> ProximalPull | None:
        return proximal_pull(call.received_weights(), self.params.mu)
