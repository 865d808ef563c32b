"""Model weights <-> Flower ArrayRecords."""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord

from fedrobust.models.base import TextClassifier


def exchanged_keys(model: TextClassifier, keys: list[str] | None = None) -> list[str]:
    """Floating-point state only: integer buffers (e.g. a pruned vocabulary's id map) are
    constants, and a weighted average would turn them into floats that round wrongly."""
    state = model.state_dict()
    return [k for k in (keys if keys is not None else state) if state[k].is_floating_point()]


def to_arrays(model: TextClassifier, keys: list[str] | None = None) -> ArrayRecord:
    return ArrayRecord(exchanged_state(model, keys))


def exchanged_state(model: TextClassifier, keys: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The tensors ``to_arrays`` puts in its record, in its order."""
    state = model.state_dict()
    return {k: state[k].detach().cpu() for k in exchanged_keys(model, keys)}


def load_arrays(model: TextClassifier, arrays: ArrayRecord) -> None:
    """Load whatever subset of the state the record carries (FedRep sends only the body)."""
    state = arrays.to_torch_state_dict()
    missing = set(state) - set(model.state_dict())
    if missing:
        raise ValueError(f"received weights for unknown parameters: {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False)

