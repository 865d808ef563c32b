"""FedRoD (Chen and Chao 2022, "On Bridging Generic and Personalized Federated Learning for Image
Classification"): one shared model (body and generic head) trained by every device with a
class-balanced loss and averaged by the server, plus a personalized head per device that never
leaves it; the device's prediction adds the two heads' logits.

Each round the device first trains the whole received model (``local.epochs``) with the balanced
softmax loss: cross-entropy of the logits shifted by the log of the device's own label prior,
log p_i(y) (Ren et al. 2020), so that the generic head learns p(x | y) rather than the device's
label skew. It sends that model back, all of it. Then it trains its personal head
(``personal_epochs``) with plain cross-entropy on generic + personal logits, body and generic head
frozen; the personal head waits in the device's state (fedrobust.federated.client_state) for its
next round. The personal head is a linear layer on the pooled features the model's own head reads
(``ClassifierOutput.features``), zero at the start, so that a device that has not trained it yet
predicts with the generic model alone.

The global phase measures the generic model. The personalized model (``GenericPlusPersonal``) is
the final generic model with the device's personal head on top, the head fine-tuned once more
(``personalize.epochs``; ``personalize.params`` does not apply).

The personal head is trained on the device's data and never sent: under ``personalize.dp`` (scope
all_steps) its round training is DP-SGD, composed with the final fine-tune in the device's
accountant (fedrobust.federated.device_dp), as FedRep's head.

    algorithm: {fedrod: {personal_epochs: 1}}
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings, with_epochs
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.device_dp import final_settings, train_on_device
from fedrobust.federated.local_training import train_locally
from fedrobust.federated.parameter_groups import HEAD
from fedrobust.models.base import ClassifierOutput, TextClassifier
from fedrobust.privacy.accounting import History

PERSONAL_HEAD = "personal_head"
ABSENT_CLASS_SHARE = 1e-12  # the prior of a label the device does not hold: log(0) would be -inf


@dataclass(frozen=True)
class FedRoDParams:
    personal_epochs: int = 1  # personal-head epochs each round, after the generic model's local epochs

    def validate(self, where: str) -> None:
        if self.personal_epochs < 0:
            raise ConfigError(f"config key {where}.personal_epochs must be >= 0, got {self.personal_epochs}")


def log_prior(labels: Sequence[int], num_labels: int) -> torch.Tensor:
    """log p_i(y) of the device's training labels, (num_labels,)."""
    counts = torch.bincount(torch.as_tensor(list(labels), dtype=torch.long), minlength=num_labels).double()
    share = counts / max(1, len(labels))
    return torch.log(share.clamp_min(ABSENT_CLASS_SHARE)).float()


class _Delegating(TextClassifier):
    """A TextClassifier around ``inner`` with the inner model's embedding."""

    def __init__(self, inner: TextClassifier) -> None:
        super().__init__()
        self.inner = inner
        self.num_labels = inner.num_labels

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.inner.embed(input_ids)

    def input_embedding_weight(self) -> torch.Tensor | None:
        return self.inner.input_embedding_weight()


class BalancedSoftmax(_Delegating):
    """The generic model with its logits shifted by the device's log label prior: cross-entropy on
    these logits is the balanced softmax loss of the generic model's."""

    def __init__(self, inner: TextClassifier, prior: torch.Tensor) -> None:
        super().__init__(inner)
        self.register_buffer("log_prior", prior)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        out = self.inner.classify_embeddings(embeddings, attention_mask)
        return ClassifierOutput(out.logits + self.log_prior, out.features, out.token_states)


class GenericPlusPersonal(_Delegating):
    """FedRoD's personalized model: the generic model's logits plus the personal head's, both read
    from the same pooled features."""

    def __init__(self, generic: TextClassifier, personal_head: nn.Linear) -> None:
        super().__init__(generic)
        self.personal_head = personal_head

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        out = self.inner.classify_embeddings(embeddings, attention_mask)
        return ClassifierOutput(out.logits + self.personal_head(out.features), out.features, out.token_states)


def zero_personal_head(model: TextClassifier) -> nn.Linear:
    """A linear head on the features the model's own head reads, all zeros."""
    features = getattr(getattr(model, HEAD, None), "in_features", None)
    if features is None:
        raise ConfigError(f"fedrod needs a linear '{HEAD}' head to size the personal head; {type(model).__name__} "
                          f"has none: choose another student or algorithm")
    head = nn.Linear(features, model.num_labels)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def personal_state(head: nn.Linear) -> dict[str, torch.Tensor]:
    return {f"{PERSONAL_HEAD}.{k}": v for k, v in head.state_dict().items()}


@register_algorithm
class FedRoD(Algorithm):
    name = "fedrod"
    Params = FedRoDParams
    personalizes = True

    def device_only_epochs(self, local_epochs: int) -> int:
        return self.params.personal_epochs

    def personal_head(self, call: ClientCall) -> tuple[nn.Linear, History]:
        """The device's personal head (zero before its first round) and the history of its training."""
        head = zero_personal_head(call.model)
        saved = call.state.load(before_round=call.server_round)
        if saved is not None:
            head.load_state_dict({k[len(PERSONAL_HEAD) + 1:]: v for k, v in saved.items()})
        return head, call.state.load_dp_history(before_round=call.server_round)

    def train(self, call: ClientCall) -> dict[str, float]:
        head, history = self.personal_head(call)
        data, settings = call.data, local_settings(call.config)
        balanced = BalancedSoftmax(call.model, log_prior(data.train_labels, call.model.num_labels))
        metrics = train_locally(balanced, call.tokenizer, data.train_texts, data.train_labels, settings,
                                seed=call.seed("fedrod-generic"))
        # the generic model is sent as it is now; the personal head's training below cannot reach it
        personalized = GenericPlusPersonal(call.model, head)
        _, history = train_on_device(call, self, personalized, with_epochs(settings, self.params.personal_epochs),
                                     seed=call.seed("fedrod-personal"), prior=history,
                                     parameters=list(head.parameters()))
        call.state.save(call.server_round, personal_state(head), dp_history=history)
        return metrics

    def personalized_model(self, call: ClientCall) -> TextClassifier:
        head, history = self.personal_head(call)
        model = GenericPlusPersonal(copy.deepcopy(self.global_model(call)), head)
        train_locally(model, call.tokenizer, call.data.train_texts, call.data.train_labels, final_settings(call, self),
                      seed=call.seed("personalize"), parameters=list(model.personal_head.parameters()),
                      dp_prior=history)
        return model
