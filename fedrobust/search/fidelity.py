"""A candidate's training budget (its fidelity): epochs, and the share of the training rows used.

The search's base distill config defines the *full* per-candidate budget (its ``train.epochs``, every
training row). A multi-fidelity strategy (fedrobust.search.halving) also evaluates candidates at a
share of it. A reduced fidelity is part of the candidate's store key, so a result at one budget is
reused by any search over the same evaluation setting that asks for that budget; the full budget
keeps the plain student key, which random search and evolution use.

Scaling rules (the same for every candidate, so low-budget ranks compare like with like):
- ``epochs``: ``train.epochs`` is set to it and every objective's ``start_epoch`` s is scaled to
  ``1 + round((s - 1) * epochs / full_epochs)`` (half up), clipped to [1, epochs]: a schedule
  "fit the teacher, then adversarial" keeps its shape and the adversarial part is never dropped.
- ``data_fraction``: a seeded subset of that share of the public training texts is trained on,
  with their teacher-labelled copies, and the same share of the transfer rows. The vocabulary
  (a pruned table's size), the discrete-adversarial pool and the validation texts stay those of
  the full data, so a candidate has the same architecture and parameter count at every budget.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch

from fedrobust.distill.config import TrainConfig
from fedrobust.search.space import student_key

FRACTION_DIGITS = 4  # a data fraction is rounded to this many digits, in the key and in use


@dataclass(frozen=True)
class Fidelity:
    epochs: int
    data_fraction: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_fraction", round(float(self.data_fraction), FRACTION_DIGITS))

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "data_fraction": self.data_fraction}

    def suffix(self) -> str:
        return f"e{self.epochs}-d{self.data_fraction:.{FRACTION_DIGITS}f}"


def full_fidelity(distill_mapping: dict[str, Any]) -> Fidelity:
    """The full per-candidate budget of a search's (resolved) base distill mapping."""
    return Fidelity(int((distill_mapping.get("train") or {}).get("epochs", TrainConfig.epochs)), 1.0)


def fidelity_key(student: dict[str, Any], fidelity: Fidelity | None, full: Fidelity) -> str:
    """The store key: the student's key at the full budget, with the budget appended otherwise."""
    base = student_key(student)
    return base if fidelity is None or fidelity == full else f"{base}-{fidelity.suffix()}"


def scaled_start(start_epoch: int, epochs: int, full_epochs: int) -> int:
    return min(epochs, max(1, 1 + math.floor((start_epoch - 1) * epochs / full_epochs + 0.5)))


def apply_epochs(mapping: dict[str, Any], fidelity: Fidelity) -> dict[str, Any]:
    """The distill mapping trained for ``fidelity.epochs`` (objective schedules scaled)."""
    full = full_fidelity(mapping).epochs
    if fidelity.epochs == full:
        return mapping
    scaled = copy.deepcopy(mapping)
    scaled.setdefault("train", {})["epochs"] = fidelity.epochs
    for params in (scaled.get("objectives") or {}).values():
        if params and "start_epoch" in params:
            params["start_epoch"] = scaled_start(int(params["start_epoch"]), fidelity.epochs, full)
    return scaled


def subsample_rows(
    train_orig: torch.Tensor, train_idx: torch.Tensor, source_index: torch.Tensor | None, n_texts: int,
    fraction: float, seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(texts, cache rows) to train on at ``fraction`` of the data: a seeded subset of the training
    texts ``train_orig`` with their copies among ``train_idx`` (``source_index[row]``: the text a row
    copies, -1 for a transfer text), and the same share of the transfer rows. One seed for every
    fraction, so the subsets nest: a larger budget trains on the smaller one's texts and more."""
    if fraction >= 1.0:
        return train_orig, train_idx
    generator = torch.Generator().manual_seed(seed)
    order = train_orig[torch.randperm(len(train_orig), generator=generator)]
    texts = torch.sort(order[: max(1, round(fraction * len(order)))]).values
    kept = torch.zeros(max(n_texts, 1), dtype=torch.bool)
    kept[texts] = True
    rows, extra = train_idx[train_idx < n_texts], train_idx[train_idx >= n_texts]
    keep_extra = torch.zeros(len(extra), dtype=torch.bool)
    if len(extra) and source_index is not None:
        sources = source_index[extra]
        copies = sources >= 0
        keep_extra[copies] = kept[sources[copies]]
        transfer = torch.nonzero(~copies).flatten()
        chosen = transfer[torch.randperm(len(transfer), generator=generator)[: round(fraction * len(transfer))]]
        keep_extra[chosen] = True
    return texts, torch.cat([rows[kept[rows]], extra[keep_extra]])
