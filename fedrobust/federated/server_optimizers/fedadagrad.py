"""FedAdagrad (Reddi et al. 2021, "Adaptive Federated Optimization"): Adagrad on the server,
v_t = v_{t-1} + Delta_t^2,  x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau).

Flower's ``FedAdagrad``, unchanged; it has no momentum (beta_1 = 0, so m_t = Delta_t), where
the paper allows one.

    server_optimizer: {fedadagrad: {eta: 0.01, tau: 0.001}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from flwr.serverapp.strategy import FedAdagrad

from fedrobust.config_schema import POSITIVE, Limit
from fedrobust.federated.server_optimizers.base import AveragedByInner, ServerStep, register_server_optimizer


@dataclass(frozen=True)
class FedAdagradParams:
    eta: float = 0.01
    tau: float = 1e-3

    LIMITS: ClassVar[dict[str, Limit]] = {"eta": Limit(0), "tau": POSITIVE}


@register_server_optimizer
class ServerFedAdagrad(ServerStep, FedAdagrad, AveragedByInner):
    name = "fedadagrad"
    Params = FedAdagradParams
    STATE = ("m_t", "v_t")
