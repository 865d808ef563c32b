"""The loss-threshold attack (Yeom et al. 2018): a model fits its training examples better, so a
low loss means "member". The score is the negative loss; AUC sweeps every threshold."""

from __future__ import annotations

import torch

from fedrobust.privacy.membership.base import MembershipAttack, MembershipTarget
from fedrobust.privacy.membership.scores import losses


class LossThreshold(MembershipAttack):
    name = "loss_threshold"

    def scores(self, target: MembershipTarget) -> torch.Tensor:
        return -losses(target.model, target.tokenizer, target.texts, target.labels)
