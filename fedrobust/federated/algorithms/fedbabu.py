"""FedBABU (Oh et al. 2022, "FedBABU: Towards Enhanced Representation for Federated Image
Classification"): only the body is trained and aggregated during federated training; the head is
randomly initialized and frozen for all of it, and is trained only at personalization, when each
device fine-tunes the global model.

Every device uses the same frozen head: with ``random_head`` (the paper's setting, the default)
it is a fresh initialization of the starting model's head drawn from the run's seed, so every
device and process draws the same one and it never needs to travel; without it, the starting
model's own head is frozen. The device trains the body only (``local.epochs``) and sends it back.
Its 'global' model is the final body under the frozen head; personalizing fine-tunes
``personalize.params`` of it (``all``, as in the paper, by default), like fedavg_ft.

Nothing trained on the device's data stays on the device before the final fine-tune, so under
``personalize.dp`` only that fine-tune is DP-SGD, as for fedavg_ft.

    algorithm: {fedbabu: {random_head: true}}
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.local_training import train_locally
from fedrobust.federated.parameter_groups import HEAD, body_keys
from fedrobust.models.base import TextClassifier
from fedrobust.seeding import derive_seed


@dataclass(frozen=True)
class FedBABUParams:
    random_head: bool = True  # freeze a seeded fresh head (the paper); false: freeze the starting model's head


def reset_head(model: TextClassifier, seed: int) -> None:
    """Re-initialize the head's layers in place, as their constructors would, from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in getattr(model, HEAD).modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()


@register_algorithm
class FedBABU(Algorithm):
    name = "fedbabu"
    Params = FedBABUParams
    personalizes = True

    def shared_keys(self, model: TextClassifier) -> list[str]:
        return body_keys(model)

    def frozen_head(self, call: ClientCall) -> TextClassifier:
        """``call.model`` under the federation's frozen head (in place); the same on every device."""
        if self.params.random_head:
            reset_head(call.model, derive_seed(call.config.seed, "fedbabu-head"))
        return call.model

    def train(self, call: ClientCall) -> dict[str, float]:
        model = self.frozen_head(call)
        head = {id(p) for p in getattr(model, HEAD).parameters()}
        body = [p for p in model.parameters() if id(p) not in head]
        return train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                             local_settings(call.config), seed=call.seed("train"), parameters=body)

    def global_model(self, call: ClientCall) -> TextClassifier:
        return self.frozen_head(call)
