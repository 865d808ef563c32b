"""Ditto (Li et al. 2021): FedAvg for the global model w, plus a personal model v_k per device
trained on local data with lambda/2 ||v_k - w||^2 pulling it toward the current global model.

The personal model lives in the device's state across rounds. At the end it is trained once more
(personalize.epochs) toward the final global model; that is the device's personalized model.
"""

from __future__ import annotations

import copy

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings, personalize_settings, with_epochs
from fedrobust.federated.local_training import train_locally
from fedrobust.models.base import TextClassifier


class Ditto(Algorithm):
    name = "ditto"
    starts_from = "fresh"
    personalizes = True

    def _personal_model(self, call: ClientCall) -> TextClassifier:
        personal = copy.deepcopy(call.model)  # first participation: start from the global model
        saved = call.state.load(before_round=call.server_round)
        if saved is not None:
            personal.load_state_dict(saved)
        return personal

    def _update_personal(self, call: ClientCall, personal: TextClassifier, global_weights, epochs: int, seed_purpose: str) -> None:
        train_locally(personal, call.tokenizer, call.data.train_texts, call.data.train_labels,
                      with_epochs(local_settings(call.config), epochs), seed=call.seed(seed_purpose),
                      proximal_reference=global_weights, proximal_mu=call.config.ditto.lam)

    def train(self, call: ClientCall) -> dict[str, float]:
        global_weights = call.received_weights()
        personal = self._personal_model(call)
        self._update_personal(call, personal, global_weights, call.config.ditto.personal_epochs, "ditto-personal")
        call.state.save(call.server_round, personal.state_dict())
        return super().train(call)

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        personal = self._personal_model(call)
        settings = personalize_settings(call.config)
        train_locally(personal, call.tokenizer, call.data.train_texts, call.data.train_labels, settings,
                      seed=call.seed("personalize"), proximal_reference=call.received_weights(),
                      proximal_mu=call.config.ditto.lam)
        return personal
