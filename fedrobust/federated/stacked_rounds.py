"""``local.engine: stacked``: in a federated round, a Flower node trains its cohort's devices together
on the stacked engine (fedrobust.federated.cohort_stacking) instead of one after another, for the
algorithms whose round is plain local training of every weight (FedAvg and the server-optimizer
variants; not FedProx's penalty, robust_student's adversarial objective, or algorithms that train
their own way). As with ``personalize.engine``, the two engines give different (equally good)
models, so the choice is part of the results; within one engine, results do not depend on
``devices_per_node``."""

from __future__ import annotations

from typing import Any, Sequence

from fedrobust.data import FederatedDataset
from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, device_seed, local_settings
from fedrobust.federated.cohort_stacking import require_stackable, train_cohort
from fedrobust.federated.engine_scope import STACKED
from fedrobust.federated.stacked_personalization import StackedResult
from fedrobust.models.base import TextClassifier


def cohort_trained_models(
    algorithm: Algorithm, config: Any, devices: Sequence[int], model: TextClassifier, tokenizer: Any,
    dataset: FederatedDataset, server_round: int,
) -> dict[int, StackedResult | Exception]:
    """Every device's round of local training for ``local.engine: stacked``, the devices trained
    together from the received ``model``, each with its round's seed; empty when the engine is
    per_device. A device that fails has its exception as its entry."""
    if config.local.engine != STACKED:
        return {}
    if not algorithm.trains_plainly():  # validation refuses this (engine_scope); a config built around it does not get far
        raise ConfigError(f"local.engine stacked runs plain local training, but {algorithm.name} trains its own way: "
                          f"use local.engine: per_device")
    settings = local_settings(config)
    require_stackable(model, settings, "local.engine", config.model)
    clients = {device: dataset.client(device) for device in devices}
    texts = {device: (data.train_texts, data.train_labels) for device, data in clients.items()}
    seeds = {device: device_seed(config, "train", server_round, device) for device in devices}
    return train_cohort(model, texts, seeds, settings, tokenizer)
