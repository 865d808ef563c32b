"""What a federated algorithm decides, on the server and on each device.

An algorithm is a small class with its settings beside it (``Params``, a frozen dataclass that
configs fill: ``algorithm: {ditto: {lam: 0.1}}``): which weights are
shared, which Flower strategy aggregates them, what a device does in a training round (and which
data-independent penalty its local training adds), and what the device's personalized model is at
the end. Everything else (messaging, round-level DP, checkpoints, evaluation, tables) is the same
for all algorithms, and so is the starting model (the config's ``init``), so comparisons are like
for like.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from flwr.app import ArrayRecord

from fedrobust.data import ClientData
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.local_training import Penalty, TrainSettings, train_locally
from fedrobust.federated.parameter_groups import trainable_parameters
from fedrobust.federated.strategy import SeededFedAvg
from fedrobust.models.base import TextClassifier
from fedrobust.seeding import derive_seed

if TYPE_CHECKING:  # the config schema imports the algorithm registry, which imports every algorithm
    from fedrobust.federated.config import SimulationConfig


@dataclass(frozen=True)
class NoParams:
    """The settings of an algorithm that has none."""


def device_seed(config: SimulationConfig, purpose: str, server_round: int, partition_id: int) -> int:
    """The seed of one device's ``purpose`` (e.g. "personalize") in one round: ``ClientCall.seed``, for
    code that works on a cohort without a call per device."""
    return derive_seed(config.seed, purpose, server_round, partition_id)


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
    # records a train message carries beside the weights (SCAFFOLD's server control variate), and the
    # ones ``train`` sends back beside the shared weights (SCAFFOLD's control-variate change)
    server_records: dict[str, ArrayRecord] = field(default_factory=dict)
    reply_records: dict[str, ArrayRecord] = field(default_factory=dict)

    def seed(self, purpose: str) -> int:
        return device_seed(self.config, purpose, self.server_round, self.partition_id)

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
    Params: type = NoParams  # the algorithm's settings; configs give them as {name: {key: value}}
    federated = True  # False: no federated rounds (local-only training)
    personalizes = True  # False: the personalized phase is the global model itself

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()

    def shared_keys(self, model: TextClassifier) -> list[str] | None:
        """State keys exchanged with the server; None means all."""
        return None

    def aggregation_strategy(self, config: SimulationConfig):
        """The server's strategy (round-level DP, when configured, is wrapped around it by the server)."""
        return SeededFedAvg(fraction_train=config.fraction_train, min_train_nodes=config.min_train_clients,
                            fraction_evaluate=0.0, seed=config.seed)

    def check_settings(self, settings, where: str = "") -> None:
        """Refuses, with a ConfigError naming keys under ``where``, federation settings
        (FederatedSettings or SimulationConfig) this algorithm cannot run; called when the config is
        validated, before any work."""

    def device_only_epochs(self, local_epochs: int) -> int:
        """Epochs each round of training on the device's data whose result never leaves the device
        but ends in its models (Ditto's personal model, FedRep's head), given the config's
        ``local.epochs``: the rounds' DP does not cover it, so under ``personalize.dp`` it is DP-SGD
        too (fedrobust.federated.device_dp). 0: none."""
        return 0

    def trains_plainly(self) -> bool:
        """Whether a round is ``Algorithm.train`` itself: local training of every weight, no penalty
        (what ``local.engine: stacked`` can run for a whole cohort)."""
        return type(self).train is Algorithm.train and type(self).penalty is Algorithm.penalty

    def penalty(self, call: ClientCall) -> Penalty | None:
        """A data-independent term of the round's local objective (FedProx's proximal term); None: none."""
        return None

    def train(self, call: ClientCall) -> dict[str, float]:
        """One federated round on the device, in place on ``call.model``."""
        return train_locally(call.model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                             local_settings(call.config), seed=call.seed("train"), penalty=self.penalty(call))

    def global_model(self, call: ClientCall) -> TextClassifier:
        """The model evaluated in the 'global' phase on this device; one holding weights trained on
        the device alone carries their DP report (fedrobust.privacy.accounting.dp_report)."""
        return call.model

    def personalized_model(self, call: ClientCall) -> TextClassifier | None:
        """The device's personalized model; None when the algorithm does not personalize."""
        if not self.personalizes:
            return None
        return fine_tune(call, self.global_model(call), personalize_settings(call.config))


def with_epochs(settings: TrainSettings, epochs: int) -> TrainSettings:
    return replace(settings, epochs=epochs)
