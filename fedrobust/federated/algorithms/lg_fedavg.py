"""LG-FedAvg (Liang et al. 2020, "Think Locally, Act Globally: Federated Learning with Local and
Global Representations"): each device keeps its own local representation (the body) and only
the global layers on top of it (the head) are shared and averaged by FedAvg.

Each round the device puts the received head on its own body, trains the whole model on its data
(``local.epochs``) and sends back the head only; the body waits in the device's state
(fedrobust.federated.client_state) for its next round. A device that has not taken part yet
starts from the starting model's body (the same start as every other algorithm). Its 'global'
model is its own body under the final averaged head; personalizing fine-tunes
``personalize.params`` of it.

The body is trained on the device's data and never leaves it: under ``personalize.dp`` (scope
all_steps) the whole round training is DP-SGD, accounted in the device's history and composed
with the final fine-tune (fedrobust.federated.device_dp).

    algorithm: lg_fedavg

FedPer (fedrobust.federated.algorithms.fedper) is the mirror image: shared body, local head.
"""

from __future__ import annotations

from fedrobust.federated.algorithms.fedper import KeepsPartOnDevice
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.parameter_groups import body_keys, head_keys
from fedrobust.models.base import TextClassifier


@register_algorithm
class LGFedAvg(KeepsPartOnDevice):
    name = "lg_fedavg"

    def shared_keys(self, model: TextClassifier) -> list[str]:
        return head_keys(model)

    def kept_keys(self, model: TextClassifier) -> list[str]:
        return body_keys(model)
