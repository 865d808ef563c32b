"""FedAdam (Reddi et al. 2021, "Adaptive Federated Optimization"): Adam on the server over the
round's averaged update Delta_t = mean_i(y_i) - x_t:
m_t = beta_1 m_{t-1} + (1 - beta_1) Delta_t,  v_t = beta_2 v_{t-1} + (1 - beta_2) Delta_t^2,
x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau).

Flower's ``FedAdam``, unchanged; it multiplies eta by Adam's bias correction
sqrt(1 - beta_2^(t+1)) / (1 - beta_1^(t+1)) in round t, which the paper does not. Its unused
``eta_l`` (the clients' rate) is not a setting here: that is ``local.lr``. Default eta is 0.01,
not Flower's 0.1, which moves every weight by up to 0.1 a round; tune it on validation data.

    server_optimizer: {fedadam: {eta: 0.01, beta_1: 0.9, beta_2: 0.99, tau: 0.001}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from flwr.serverapp.strategy import FedAdam

from fedrobust.config_schema import POSITIVE, Limit
from fedrobust.federated.server_optimizers.base import AveragedByInner, ServerStep, register_server_optimizer

BETA = Limit(0, 1, open_high=True)


@dataclass(frozen=True)
class FedAdamParams:
    eta: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.99
    tau: float = 1e-3

    LIMITS: ClassVar[dict[str, Limit]] = {"eta": Limit(0), "beta_1": BETA, "beta_2": BETA, "tau": POSITIVE}


@register_server_optimizer
class ServerFedAdam(ServerStep, FedAdam, AveragedByInner):
    name = "fedadam"
    Params = FedAdamParams
    STATE = ("m_t", "v_t")
