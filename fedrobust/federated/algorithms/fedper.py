"""FedPer (Arivazhagan et al. 2019, "Federated Learning with Personalization Layers"): base
layers (the body) shared and averaged by FedAvg, personalization layers (the head) kept on each
device and never sent.

Each round the device puts its own head on the received body, trains the whole model on its
data (body and head together, ``local.epochs``; unlike FedRep there is no head-first phase) and
sends back the body only; the head waits in the device's state (fedrobust.federated.client_state)
for its next round. A device that has not taken part yet starts from the starting model's head.
Its 'global' model is the final body with its own head; personalizing fine-tunes
``personalize.params`` of it.

The head is trained on the device's data and never leaves it: under ``personalize.dp`` (scope
all_steps) the whole round training is DP-SGD, accounted in the device's history and composed
with the final fine-tune (fedrobust.federated.device_dp); the body it sends is covered by the
rounds' DP as well.

    algorithm: fedper

LG-FedAvg (fedrobust.federated.algorithms.lg_fedavg) is the mirror image: it keeps the body and
shares the head; both are ``KeepsPartOnDevice`` below.
"""

from __future__ import annotations

import copy

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import final_settings, load_device_weights, model_with_device_weights, train_on_device
from fedrobust.federated.local_training import train_locally
from fedrobust.federated.parameter_groups import body_keys, head_keys, trainable_parameters
from fedrobust.models.base import TextClassifier


class KeepsPartOnDevice(Algorithm):
    """Trains the whole model each round, sends ``shared_keys`` and keeps the other floating-point
    weights (``kept_keys``) in the device's state, with the accountant history of their training."""

    personalizes = True

    def kept_keys(self, model: TextClassifier) -> list[str]:
        raise NotImplementedError

    def device_only_epochs(self, local_epochs: int) -> int:
        return local_epochs  # the whole round's training feeds the kept weights

    def train(self, call: ClientCall) -> dict[str, float]:
        history = load_device_weights(call)
        metrics, history = train_on_device(call, self, call.model, local_settings(call.config),
                                           seed=call.seed(f"{self.name}-train"), prior=history)
        state = call.model.state_dict()
        kept = {k: state[k] for k in self.kept_keys(call.model) if state[k].is_floating_point()}
        call.state.save(call.server_round, kept, dp_history=history)
        return metrics

    def global_model(self, call: ClientCall) -> TextClassifier:
        return model_with_device_weights(call)

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        model = copy.deepcopy(self.global_model(call))
        personalize = call.config.personalize
        train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                      final_settings(call, self), seed=call.seed("personalize"),
                      parameters=trainable_parameters(model, personalize.params, personalize.adapter_dim),
                      dp_prior=call.state.load_dp_history(before_round=call.server_round))
        return model


@register_algorithm
class FedPer(KeepsPartOnDevice):
    name = "fedper"

    def shared_keys(self, model: TextClassifier) -> list[str]:
        return body_keys(model)

    def kept_keys(self, model: TextClassifier) -> list[str]:
        return head_keys(model)
