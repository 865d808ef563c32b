"""ATMC-style compression: pruning, low-rank factorization, int8 weights (fedrobust.models.int8)."""

from fedrobust.distill.compression.low_rank import factorize, low_rank_plan
from fedrobust.distill.compression.pruning import apply_masks, magnitude_prune, sparsity
from fedrobust.models.int8 import dequantize_state_dict, fake_quantize_, quantize_state_dict

__all__ = [
    "apply_masks",
    "dequantize_state_dict",
    "factorize",
    "fake_quantize_",
    "low_rank_plan",
    "magnitude_prune",
    "quantize_state_dict",
    "sparsity",
]
