"""FedAvgM (Hsu et al. 2019, "Measuring the Effects of Non-Identical Data Distribution for
Federated Visual Classification"): server momentum over the round's pseudo-gradient
g_t = x_t - mean_i(y_i):  v_t = beta v_{t-1} + g_t,  x_{t+1} = x_t - eta v_t  (v_1 = g_1).

Flower's ``FedAvgM``, unchanged. Hsu et al. found the best accuracy near an effective learning
rate eta / (1 - beta) of 1, hence the defaults (0.1, 0.9); momentum 0 with rate 1 is FedAvg.

    server_optimizer: {fedavgm: {server_learning_rate: 0.1, server_momentum: 0.9}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvgM

from fedrobust.config_schema import NON_NEGATIVE, POSITIVE, Limit
from fedrobust.federated.server_optimizers.base import AveragedByInner, ServerStep, register_server_optimizer


@dataclass(frozen=True)
class FedAvgMParams:
    server_learning_rate: float = 0.1
    server_momentum: float = 0.9

    LIMITS: ClassVar[dict[str, Limit]] = {"server_learning_rate": POSITIVE, "server_momentum": NON_NEGATIVE}


@register_server_optimizer
class ServerFedAvgM(ServerStep, FedAvgM, AveragedByInner):
    name = "fedavgm"
    Params = FedAvgMParams
    _restored_momentum: dict[str, np.ndarray] | None = None

    # Flower keeps the momentum as a list in the order of the weights' keys; a checkpoint keeps it by key.
    def state_arrays(self) -> dict[str, np.ndarray]:
        own = {}
        if self.momentum_vector is not None and self.current_arrays is not None:
            own = {self._prefix("momentum_vector") + key: np.asarray(value)
                   for key, value in zip(self.current_arrays.keys(), self.momentum_vector, strict=True)}
        return {**own, **super().state_arrays()}

    def restore_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        prefix = self._prefix("momentum_vector")
        self._restored_momentum = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)} or None
        super().restore_state_arrays({k: v for k, v in arrays.items() if not k.startswith(prefix)})

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        if self._restored_momentum is not None:  # the weights' key order is known now
            self.momentum_vector = [self._restored_momentum[key] for key in arrays.keys()]
            self._restored_momentum = None
        return super().configure_train(server_round, arrays, config, grid)
