"""Ditto (Li et al. 2021): FedAvg for the global model w, plus a personal model v_k per device
trained on local data with lambda/2 ||v_k - w||^2 pulling it toward the current global model.

    algorithm: {ditto: {lam: 0.1, personal_epochs: 1}}

The personal model lives in the device's state across rounds. At the end it is trained once more
(personalize.epochs) toward the final global model; that is the device's personalized model.

The personal model is trained on the device's data and never sent: under ``personalize.dp`` its
round training is DP-SGD too, composed with the final fine-tune in the device's accountant
(fedrobust.federated.device_dp); the proximal pull is data-independent and costs no privacy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings, with_epochs
from fedrobust.federated.algorithms.proximal import proximal_pull
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import final_settings, train_on_device
from fedrobust.federated.local_training import train_locally
from fedrobust.models.base import TextClassifier
from fedrobust.privacy.accounting import History


@dataclass(frozen=True)
class DittoParams:
    lam: float = 0.1  # pull of the personal model toward the global one
    personal_epochs: int = 1  # personal-model epochs each round, before the global model's local epochs

    def validate(self, where: str) -> None:
        if self.lam < 0:
            raise ConfigError(f"config key {where}.lam must be >= 0, got {self.lam}")
        if self.personal_epochs < 0:
            raise ConfigError(f"config key {where}.personal_epochs must be >= 0, got {self.personal_epochs}")


@register_algorithm
class Ditto(Algorithm):
    name = "ditto"
    Params = DittoParams
    personalizes = True

    def device_only_epochs(self, local_epochs: int) -> int:
        return self.params.personal_epochs

    def _personal_model(self, call: ClientCall) -> tuple[TextClassifier, History]:
        """The personal model and the accountant history of its training on this device."""
        personal = copy.deepcopy(call.model)  # first participation: start from the global model
        saved = call.state.load(before_round=call.server_round)
        if saved is not None:
            personal.load_state_dict(saved)
        return personal, call.state.load_dp_history(before_round=call.server_round)

    def train(self, call: ClientCall) -> dict[str, float]:
        global_weights = call.received_weights()
        personal, history = self._personal_model(call)
        settings = with_epochs(local_settings(call.config), self.params.personal_epochs)
        _, history = train_on_device(call, self, personal, settings, seed=call.seed("ditto-personal"), prior=history,
                                     penalty=proximal_pull(global_weights, self.params.lam))
        call.state.save(call.server_round, personal.state_dict(), dp_history=history)
        return super().train(call)

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        personal, history = self._personal_model(call)
        train_locally(personal, call.tokenizer, call.data.train_texts, call.data.train_labels,
                      final_settings(call, self), seed=call.seed("personalize"),
                      penalty=proximal_pull(call.received_weights(), self.params.lam), dp_prior=history)
        return personal
