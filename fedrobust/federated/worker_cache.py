"""What a simulation worker loads once and reuses across the clients it runs.

A Ray actor runs many ClientApp calls in sequence; reading the federated directory or the
model artifact per call would dominate small clients' work.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache

import torch

from fedrobust.data import FederatedDataset
from fedrobust.federated.algorithms import Algorithm, build_algorithm
from fedrobust.federated.config import SimulationConfig, config_from_mapping
from fedrobust.models.base import TextClassifier
from fedrobust.models.io import load_model
from fedrobust.models.registry import build_student
from fedrobust.seeding import derive_seed


@lru_cache(maxsize=4)
def federated_dataset(data_dir: str) -> FederatedDataset:
    return FederatedDataset.load(data_dir)


@lru_cache(maxsize=4)
def _student(model_dir: str):
    return load_model(model_dir)


@lru_cache(maxsize=4)
def _fresh(model_dir: str, seed: int) -> TextClassifier:
    """The student's architecture with new, seeded weights (for from-scratch baselines).

    Integer buffers (a pruned vocabulary's token -> row map) are copied from the student: they
    are part of the architecture, and without them every token would read as [UNK].
    """
    student, _ = _student(model_dir)
    config = dict(student.config)
    torch.manual_seed(derive_seed(seed, "fresh-init"))
    model = build_student(student.registry_name, num_labels=config.pop("num_labels"), vocab_size=config.pop("vocab_size"), **config)
    structure = {k: v for k, v in student.state_dict().items() if not v.is_floating_point()}
    model.load_state_dict(structure, strict=False)
    model.eval()
    return model


def tokenizer_for(model_dir: str):
    return _student(model_dir)[1]


def initial_model(model_dir: str, init: str, seed: int) -> TextClassifier:
    """A private copy of the starting model: the artifact ``model_dir`` as it is (``init`` student or
    public), or its architecture with fresh seeded weights (``init`` fresh)."""
    template = _fresh(model_dir, seed) if init == "fresh" else _student(model_dir)[0]
    return copy.deepcopy(template)


@lru_cache(maxsize=8)
def parse_config(config_json: str) -> SimulationConfig:
    return config_from_mapping(json.loads(config_json))


@lru_cache(maxsize=8)
def algorithm_for(config_json: str) -> Algorithm:
    """The configured algorithm with its settings (its instances hold settings only, no state)."""
    config = parse_config(config_json)
    return build_algorithm(config.algorithm_name, config.algorithm_params)
