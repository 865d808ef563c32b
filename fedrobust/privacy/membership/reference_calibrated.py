"""A calibrated attack with reference models: offline LiRA (Carlini et al. 2022).

Some examples are easy for any model; the loss alone confuses them with members. Reference
models trained the same way but without the target's data say how well an example is fitted
when it is *not* a member; the score is how far the target's scaled confidence lies above that:
(phi_target(x) - mean_ref phi(x)) / sigma, with one pooled sigma (few references make
per-example variances noisy, Carlini et al.'s advice for small reference sets).
"""

from __future__ import annotations

import torch

from fedrobust.errors import ConfigError
from fedrobust.privacy.membership.base import MembershipAttack, MembershipTarget
from fedrobust.privacy.membership.scores import scaled_confidence


class ReferenceCalibrated(MembershipAttack):
    name = "reference_calibrated"
    needs_reference_models = True

    def scores(self, target: MembershipTarget) -> torch.Tensor:
        if not target.reference_models:
            raise ConfigError("the reference_calibrated attack needs privacy.membership.reference_models >= 1")
        texts, labels = target.texts, target.labels
        observed = scaled_confidence(target.model, target.tokenizer, texts, labels)
        references = torch.stack([scaled_confidence(m, target.tokenizer, texts, labels) for m in target.reference_models])
        centred = references - references.mean(dim=0, keepdim=True)
        pooled = centred.std() if len(target.reference_models) > 1 else references.std()
        return (observed - references.mean(dim=0)) / pooled.clamp(min=1e-6)
