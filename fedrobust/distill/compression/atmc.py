"""ATMC (Gui et al. 2019, "Model Compression with Adversarial Robustness: A Unified Optimization
Framework", NeurIPS): sparsity, low rank and quantization as constraints inside adversarial
training, instead of compressions applied after it (post_hoc.py).

After the dense phase (``train.epochs``, every objective) the method factorizes the linear maps
that ``rank_ratio`` shrinks (truncated SVD; their factors are trained from then on) and runs

1. ``admm_epochs`` of ADMM (admm.py) with the same objectives, adversarial ones included: the
   penalty rho/2 ||W - Z + U||^2 pulls the weights onto the constraint set (projection.py) while
   they keep fitting the adversarial loss; the last epoch is kept (the constraint tightens with rho);
2. the hard projection (qat.py): every stored weight tensor gets exactly its share of zeros and
   its grid values;
3. ``qat_epochs`` of quantization-aware fine-tuning with the masks fixed (straight-through
   estimator), keeping the best validation epoch; every candidate epoch satisfies the constraints.

The result saves as packed grid codes (fedrobust.models.packed): its bytes on disk are the
compressed model's.
"""

from __future__ import annotations

from typing import Any

import torch

from fedrobust.distill.compression.admm import ADMM, AtmcSettings
from fedrobust.distill.compression.projection import constrained_names, factorize_for_constraints
from fedrobust.distill.compression.qat import FakeQuantization, hard_project
from fedrobust.distill.compression.registry import COMPRESSION_METHODS, Compressed, Phases
from fedrobust.models.base import TextClassifier


class Atmc:
    def check(self, compression: Any, steps_per_epoch: int, where: str) -> None:
        compression.atmc.updates(steps_per_epoch, f"{where}.atmc")

    def compress(self, student: TextClassifier, compression: Any, phases: Phases) -> Compressed:
        settings: AtmcSettings = compression.atmc
        layout = factorize_for_constraints(student, settings.rank_ratio)
        names = constrained_names(student)
        admm = ADMM(student, names, settings, settings.updates(phases.steps_per_epoch))
        history = phases(settings.admm_epochs, "admm", hooks=[admm], keep_best_epoch=False)
        masks, latent = hard_project(student, names, settings.sparsity, settings.bits)
        qat = FakeQuantization(student, masks, latent, settings.bits)
        if settings.qat_epochs > 0:
            history += phases(settings.qat_epochs, "qat", hooks=[qat])
        qat.finalize(student)
        report = {"method": "atmc", "sparsity": settings.sparsity, "rank_ratio": settings.rank_ratio,
                  "bits": settings.bits, "admm_residuals": admm.residuals,
                  "tensors": constraint_report(student, masks)}
        return Compressed(history, layout, weights="packed", bits=settings.bits, report=report)


COMPRESSION_METHODS.register("atmc")(Atmc())


@torch.no_grad()
def constraint_report(model: TextClassifier, masks: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """Per stored constrained tensor, as trained: shape, share of zeros, distinct values."""
    report = {}
    for name in masks:
        p = model.get_parameter(name).detach()
        report[name] = {"shape": list(p.shape), "zeros": float((p == 0).float().mean()),
                        "distinct_values": int(torch.unique(p).numel())}
    return report
