"""A cohort's devices trained together on the stacked engine (fedrobust.federated.stacked_personalization),
all from the model they received: the personalization of the final phase and, with
``local.engine: stacked``, the local training of federated rounds (fedrobust.federated.stacked_rounds)."""

from __future__ import annotations

import copy
import math
from typing import Any, Sequence

import torch

from fedrobust.federated.local_training import TrainSettings
from fedrobust.errors import ConfigError
from fedrobust.federated.stacked_personalization import DeviceJob, StackedResult, eligible, train_stacked
from fedrobust.models.base import TextClassifier

STACK_DEVICES = 32  # devices trained together: more saves little and holds more activations


def require_stackable(model: TextClassifier, settings: TrainSettings, key: str, model_path: str) -> None:
    """Refuses a student or settings the stacked engine cannot train, naming the config ``key``
    (``personalize.engine`` or ``local.engine``) and the model folder."""
    if not eligible(model, settings):
        embedding = type(getattr(model, "embedding", None)).__name__
        raise ConfigError(f"{key} stacked needs a bigru_attention student with a factorized embedding; "
                          f"{model_path} is a {type(model).__name__} with a {embedding}: use {key}: per_device")


def train_cohort(
    model: TextClassifier, texts: dict[int, tuple[Sequence[str], Sequence[int]]], seeds: dict[int, int],
    settings: TrainSettings, tokenizer: Any,
) -> dict[int, StackedResult | Exception]:
    """Each device's copy of ``model`` trained on its (texts, labels) with its seed, in stacks of at
    most ``STACK_DEVICES`` devices of one shape. A device with no texts, or ``settings.epochs`` 0,
    gets an untrained copy (what ``train_locally`` does: nothing). A stack that fails is run device
    by device, so that a failure is pinned on its device (its entry is the exception); a device
    alone gives the same bits."""
    out: dict[int, StackedResult | Exception] = {}
    jobs: dict[int, DeviceJob] = {}
    for device, (device_texts, labels) in texts.items():
        if settings.epochs == 0 or not device_texts:
            out[device] = StackedResult(copy.deepcopy(model), math.nan, 0)
            continue
        encoded = tokenizer(list(device_texts))
        jobs[device] = DeviceJob(model, encoded["input_ids"], encoded["attention_mask"],
                                 torch.as_tensor(list(labels), dtype=torch.long), seeds[device])
    try:
        out.update(_stacked(list(jobs), jobs, settings, tokenizer.max_length))
    except Exception:  # one device's trouble must not fail the others: find it
        for device in jobs:
            try:
                out.update(_stacked([device], jobs, settings, tokenizer.max_length))
            except Exception as exc:
                out[device] = exc
    return out


def _stacked(devices: list[int], jobs: dict[int, DeviceJob], settings: TrainSettings,
             max_length: int) -> dict[int, StackedResult]:
    results = train_stacked([jobs[d] for d in devices], settings.epochs, settings.lr, settings.batch_size,
                            max_length, max_stack=STACK_DEVICES)
    return dict(zip(devices, results))
