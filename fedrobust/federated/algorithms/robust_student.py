"""The mission's method (Qiang et al. 2021 in a federation): the server distributes the
distilled, adversarially trained student; optional federated rounds fine-tune it with
adversarial (embedding-PGD) local training; each device then personalizes it by fine-tuning
(optionally adversarial, per ``personalize.adversarial``)."""

from __future__ import annotations

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.local_training import train_locally


@register_algorithm
class RobustStudent(Algorithm):
    name = "robust_student"
    personalizes = True

    def train(self, call: ClientCall) -> dict[str, float]:
        return train_locally(call.model, call.tokenizer, call.data.train_texts, call.data.train_labels,
                             local_settings(call.config, adversarial=True), seed=call.seed("train"),
                             penalty=self.penalty(call))
