"""The post-hoc method: train dense, then low-rank factorize and magnitude-prune, then fine-tune
with every objective under the pruning masks (int8 is written after training, fedrobust.models.int8).
Unlike ATMC (atmc.py) the constraints never take part in the adversarial training that shaped W."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fedrobust.distill.compression.low_rank import factorize
from fedrobust.distill.compression.projection import constrained_names
from fedrobust.distill.compression.pruning import magnitude_prune
from fedrobust.distill.compression.registry import COMPRESSION_METHODS, Compressed, Phases
from fedrobust.models.base import TextClassifier
from fedrobust.models.packed import to_grid


class PostHoc:
    def check(self, compression: Any, steps_per_epoch: int, where: str) -> None:
        pass

    def compress(self, student: TextClassifier, compression: Any, phases: Phases) -> Compressed:
        low_rank = factorize(student, compression.low_rank_ratio) if compression.low_rank_ratio > 0 else {}
        masks = magnitude_prune(student, compression.prune_sparsity) if compression.prune_sparsity > 0 else {}
        history = []
        if (low_rank or masks) and compression.finetune_epochs > 0:
            history = phases(compression.finetune_epochs, "compressed_finetune", masks=masks)
        return Compressed(history, low_rank)


COMPRESSION_METHODS.register("post_hoc")(PostHoc())


@torch.no_grad()
def quantize_after_training(model: nn.Module, bits: int) -> dict[str, float]:
    """Post-training quantization onto the packed format's grid (fedrobust.models.packed), in place:
    every weight matrix keeps its zeros (its pruning) and rounds the rest to its ``bits``-bit grid,
    so a post-hoc student saves with ``save_model(..., weights="packed", bits=bits)``. Returns the
    share of zeros of each tensor."""
    zeros = {}
    for name in constrained_names(model):
        p = model.get_parameter(name)
        p.copy_(to_grid(p, p != 0, bits))
        zeros[name] = float((p == 0).float().mean())
    return zeros
