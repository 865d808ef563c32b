"""What a federated algorithm decides, on the server and on each device.

An algorithm is a small class: which model it starts from, which weights are shared, which
Flower strategy aggregates them, what a device does in a training round, and what the device's
personalized model is at the end. Everything else (messaging, checkpoints, evaluation, tables)
is the same for all algorithms, so comparisons are like for like.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch

from fedrobust.data import ClientData
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.config import SimulationConfig
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.federated.parameter_groups import trainable_parameters
from fedrobust.federated.strategy import SeededFedAvg
from fedrobust.federated.transport import derive_seed
from fedrobust.models.base import TextClassifier


@dataclass
class ClientCall:
    """Everything one device call sees."""

    config: SimulationConfig
    partition_id: int
    data: ClientData
    tokenizer: object
    model: TextClassifier  # a private copy holding the weights the server sent
    server_round: int
    state: ClientStateStore
    proximal_mu: float = 0.0

    def seed(self, purpose: str) -> int:
        return derive_seed(self.config.seed, purpose, self.server_round, self.partition_id)

    def received_weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


def local_settings(config: SimulationConfig, adversarial: bool | None = None) -> TrainSettings:
    local = config.local
    return TrainSettings(local.epochs, local.lr, local.batch_size,
                         local.adversarial if adversarial is None else adversarial,
                         local.adversarial_epsilon, local.adversarial_steps)


def personalize_settings(config: SimulationConfig) -> TrainSettings:
    p = config.personalize
    return TrainSettings(p.epochs, p.lr, p.batch_size, p.adversarial, p.adversarial_epsilon, p.adversarial_steps, p.dp)


def fine_tune(call: ClientCall, model: TextClassifier, settings: TrainSettings, **kwargs) -> TextClassifier:
    """Personalization by local fine-tuning of the configured parameter group, on a copy."""
    model = copy.deepcopy(model)
    params = trainable_parameters(model, call.config.personalize.params, call.config.personalize.adapter_dim)
    train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels, settings,
                  seed=call.seed("personalize"), parameters=params, **kwargs)
    return model


class Algorithm:
    name = ""
    starts_from = "fresh"  # "fresh": the student's architecture, new weights; "student": distilled weights
    federated = True  # False: no federated rounds (local-only training)
    personalizes = True  # False: the personalized phase is the global model itself

    def shared_keys(self, model: TextClassifier) -> list[str] | None:
        """State keys exchanged with the server; None means all."""
        return None

    def make_strategy(self, config: SimulationConfig):
        """The aggregation strategy, wrapped with Flower's DP wrapper when ``privacy.rounds`` asks."""
        from fedrobust.privacy.round_dp import with_round_privacy

        return with_round_privacy(self.aggregation_strategy(config), config.privacy.rounds)

    def aggregation_strategy(self, config: SimulationConfig):
        return SeededFedAvg(fraction_train=config.fraction_train, min_train_nodes=config.min_train_clients,
                            fraction_evaluate=0.0, seed=config.seed)

    def train(self, call: ClientCall) -> dict[str, float]:
        """One federated round on the device, in place on ``call.model``."""
        reference = call.received_weights() if call.proximal_mu > 0 else None
        return train_locally(call.model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                             local_settings(call.config), seed=call.seed("train"),
                             proximal_reference=reference, proximal_mu=call.proximal_mu)

    def global_model(self, call: ClientCall) -> TextClassifier:
        """The model evaluated in the 'global' phase on this device."""
        return call.model

    def personalized_model(self, call: ClientCall) -> TextClassifier | None:
        """The device's personalized model; None when the algorithm does not personalize."""
        if not self.personalizes:
            return None
        return fine_tune(call, self.global_model(call), personalize_settings(call.config))


def with_epochs(settings: TrainSettings, epochs: int) -> TrainSettings:
    return replace(settings, epochs=epochs)
