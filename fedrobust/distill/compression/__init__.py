"""Compression of the student, chosen by ``compression.method`` (compression/methods.py):
``post_hoc`` prunes, low-rank factorizes and fine-tunes after training, with an int8 copy
(fedrobust.models.int8); ``atmc`` trains under joint sparsity, rank and low-bit constraints with
ADMM inside the adversarial objectives (Gui et al. 2019) and saves packed weights
(fedrobust.models.packed). The post-hoc building blocks are re-exported here."""

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
