"""Local-only training: no federation; each device trains the starting model (``init``, the same
as every other algorithm's) on its own data alone, for as many epochs as a device taking part in
every federated round plus personalization would (rounds x local.epochs + personalize.epochs).
Its 'global' phase is that starting model, untouched."""

from __future__ import annotations

import copy

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, personalize_settings, with_epochs
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.local_training import train_locally
from fedrobust.models.base import TextClassifier


@register_algorithm
class LocalOnly(Algorithm):
    name = "local_only"
    federated = False
    personalizes = True

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        config = call.config
        epochs = config.rounds * config.local.epochs + config.personalize.epochs
        model = copy.deepcopy(call.model)
        train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                      with_epochs(personalize_settings(config), epochs), seed=call.seed("local-only"))
        return model
