"""FedRep (Collins et al. 2021): a shared representation (body) learned with FedAvg and a local
head per device that never leaves it.

Each round the device first trains its head (body frozen), then the body (head frozen), and
sends back the body only. Its 'global' model is the final body with its own head; personalizing
fine-tunes the head further.

The head is trained on the device's data and never sent: under ``personalize.dp`` its round
training is DP-SGD too, composed with the final fine-tune in the device's accountant
(fedrobust.federated.device_dp); the global phase's model carries the head's DP report.

    algorithm: {fedrep: {head_epochs: 2}}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings, with_epochs
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import final_settings, load_device_weights, model_with_device_weights, train_on_device
from fedrobust.federated.local_training import train_locally
from fedrobust.federated.parameter_groups import HEAD, body_keys, head_keys
from fedrobust.models.base import TextClassifier


@dataclass(frozen=True)
class FedRepParams:
    head_epochs: int = 2  # head epochs before the body epochs, each round

    def validate(self, where: str) -> None:
        if self.head_epochs < 0:
            raise ConfigError(f"config key {where}.head_epochs must be >= 0, got {self.head_epochs}")


@register_algorithm
class FedRep(Algorithm):
    name = "fedrep"
    Params = FedRepParams
    personalizes = True

    def shared_keys(self, model: TextClassifier) -> list[str]:
        return body_keys(model)

    def device_only_epochs(self, local_epochs: int) -> int:
        return self.params.head_epochs

    def train(self, call: ClientCall) -> dict[str, float]:
        history = load_device_weights(call)
        model, data, settings = call.model, call.data, local_settings(call.config)
        head = list(getattr(model, HEAD).parameters())
        head_ids = {id(p) for p in head}
        body = [p for p in model.parameters() if id(p) not in head_ids]
        _, history = train_on_device(call, self, model, with_epochs(settings, self.params.head_epochs),
                                     seed=call.seed("fedrep-head"), prior=history, parameters=head)
        # the body is sent: the rounds' DP (privacy.rounds) covers it, head's influence included
        metrics = train_locally(model, call.tokenizer, data.train_texts, data.train_labels, settings,
                                seed=call.seed("fedrep-body"), parameters=body)
        state = model.state_dict()
        call.state.save(call.server_round, {k: state[k] for k in head_keys(model)}, dp_history=history)
        return metrics

    def global_model(self, call: ClientCall) -> TextClassifier:
        return model_with_device_weights(call)

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        model = copy.deepcopy(self.global_model(call))
        train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                      final_settings(call, self), seed=call.seed("personalize"),
                      parameters=list(getattr(model, HEAD).parameters()),
                      dp_prior=call.state.load_dp_history(before_round=call.server_round))
        return model
