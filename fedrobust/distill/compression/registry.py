"""Compression methods by name, as written under ``compression.method`` in a distill config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from fedrobust.distill.trainer import TrainingHook
from fedrobust.models.base import TextClassifier
from fedrobust.registry import Registry


class Phases(Protocol):
    """Further training phases of the student with the run's objectives (the pipeline's: half the
    learning rate, the next seed, epochs counted on from the previous phase)."""

    steps_per_epoch: int  # optimizer steps in one epoch of any phase

    def __call__(self, epochs: int, phase: str, *, masks: dict | None = None, hooks: Sequence[TrainingHook] = (),
                 keep_best_epoch: bool | None = None) -> list[dict[str, Any]]: ...


@dataclass
class Compressed:
    """What a method did to the trained student (in place) and how the result is saved."""

    history: list[dict[str, Any]] = field(default_factory=list)  # the phases' epoch rows
    low_rank: dict[str, int] = field(default_factory=dict)  # {module path: rank} it factorized
    weights: str = "fp32"  # save_model's format: "packed" stores the grid codes (fedrobust.models.packed)
    bits: int | None = None  # the grid of "packed"
    report: dict[str, Any] = field(default_factory=dict)  # for metrics.json


class CompressionMethod(Protocol):
    def check(self, compression: Any, steps_per_epoch: int, where: str) -> None:
        """ConfigError naming ``<where>.<key>`` for settings the data makes impossible (called
        before any training)."""

    def compress(self, student: TextClassifier, compression: Any, phases: Phases) -> Compressed:
        """Compress the densely trained ``student`` in place (``compression``: the config section)."""


COMPRESSION_METHODS: Registry[CompressionMethod] = Registry("compression method")
