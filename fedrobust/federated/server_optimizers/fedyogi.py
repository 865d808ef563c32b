"""FedYogi (Reddi et al. 2021, "Adaptive Federated Optimization"): FedAdam with Yogi's additive
second moment, v_t = v_{t-1} - (1 - beta_2) Delta_t^2 sign(v_{t-1} - Delta_t^2), which grows
v_t more slowly than Adam does when the updates grow; x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau).

Flower's ``FedYogi``, unchanged (v starts at 0; no bias correction).

    server_optimizer: {fedyogi: {eta: 0.01, beta_1: 0.9, beta_2: 0.99, tau: 0.001}}
"""

from __future__ import annotations

from flwr.serverapp.strategy import FedYogi

from fedrobust.federated.server_optimizers.base import AveragedByInner, ServerStep, register_server_optimizer
from fedrobust.federated.server_optimizers.fedadam import FedAdamParams


@register_server_optimizer
class ServerFedYogi(ServerStep, FedYogi, AveragedByInner):
    name = "fedyogi"
    Params = FedAdamParams  # the same four settings, checked the same way
    STATE = ("m_t", "v_t")
