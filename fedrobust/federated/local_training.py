"""One device's local training: a pure function of (model, data, settings, seed).

Used by every algorithm for federated rounds and for personalization. Options: a subset of
parameters, an algorithm's data-independent penalty (FedProx's and Ditto's proximal term), and
embedding-space PGD adversarial training (the same objective the distillation uses). With DP
settings the training is DP-SGD (fedrobust.privacy.dp_personalization), continuing the
accountant history ``dp_prior`` of the device's earlier DP-SGD steps that the model carries.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fedrobust.distill.batch import DistillBatch
from fedrobust.distill.losses.embedding_pgd import EmbeddingPGD
from fedrobust.models.base import TextClassifier
from fedrobust.models.compact_rows import compact_embedding_rows
from fedrobust.privacy.accounting import History, clear_dp_report
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.dp_personalization import train_privately


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float
    batch_size: int
    adversarial: bool = False
    adversarial_epsilon: float = 0.05
    adversarial_steps: int = 1
    dp: DPConfig | None = None  # DP-SGD (fedrobust.privacy) when enabled
    optimizer: str = "adam"  # or "sgd": plain steps, which SCAFFOLD's control-variate update assumes


class Penalty(Protocol):
    """A term of the local objective that depends on the weights only, not on the data.

    ``loss`` is added to each batch's loss; under DP-SGD, where the data's gradient is clipped
    and noised per example, ``add_gradient`` adds the term's gradient after the noise instead
    (no data, so no privacy cost)."""

    def loss(self, model: nn.Module) -> torch.Tensor: ...

    def add_gradient(self, model: nn.Module) -> None: ...


def _adversarial_loss(model: TextClassifier, input_ids, attention_mask, labels, settings: TrainSettings) -> torch.Tensor:
    pgd = EmbeddingPGD(None, epsilon=settings.adversarial_epsilon, steps=settings.adversarial_steps, target="ce")
    empty = torch.empty(0)
    batch = DistillBatch(input_ids, attention_mask, labels, empty, empty, empty, empty)
    embeddings = model.embed(input_ids)
    delta = pgd.perturbation(model, embeddings, batch)
    return pgd.loss_at(model, embeddings + delta, batch).mean()


def batch_loss(model: TextClassifier, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
               settings: TrainSettings) -> torch.Tensor:
    """The local objective on one batch, without a penalty: cross-entropy, half of it replaced by
    the embedding-PGD adversarial loss when ``settings.adversarial``."""
    loss = F.cross_entropy(model(input_ids, attention_mask), labels)
    if settings.adversarial:
        loss = 0.5 * loss + 0.5 * _adversarial_loss(model, input_ids, attention_mask, labels, settings)
    return loss


def train_locally(
    model: TextClassifier,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[int],
    settings: TrainSettings,
    seed: int,
    parameters: list[nn.Parameter] | None = None,
    penalty: Penalty | None = None,
    dp_prior: History = (),
) -> dict[str, float]:
    """Train in place; returns the mean training loss and the number of steps."""
    if settings.dp is not None and settings.dp.enabled:
        return train_privately(model, tokenizer, texts, labels, settings, settings.dp, seed, parameters, penalty,
                               dp_prior)
    if settings.epochs == 0 or not texts:
        return {"train_loss": float("nan"), "steps": 0}
    clear_dp_report(model)  # trained without DP now: no earlier DP report describes it
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    params = parameters if parameters is not None else list(model.parameters())
    trainable = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    encoded = tokenizer(list(texts))
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    # a penalty reads every weight of the model, so it needs the full tables
    rows = contextlib.nullcontext(params) if penalty is not None else compact_embedding_rows(model, encoded["input_ids"], params)
    with rows as stepped:
        optimizer = (torch.optim.SGD if settings.optimizer == "sgd" else torch.optim.Adam)(stepped, lr=settings.lr)
        losses = _train_epochs(model, encoded, targets, settings, generator, optimizer, penalty)
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return {"train_loss": sum(losses) / len(losses), "steps": len(losses)}


def _train_epochs(model: TextClassifier, encoded, targets: torch.Tensor, settings: TrainSettings,
                  generator: torch.Generator, optimizer: torch.optim.Optimizer, penalty: Penalty | None) -> list[float]:
    model.train()
    losses = []
    for _ in range(settings.epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            index = order[start:start + settings.batch_size]
            ids, mask, y = encoded["input_ids"][index], encoded["attention_mask"][index], targets[index]
            loss = batch_loss(model, ids, mask, y, settings)
            if penalty is not None:
                loss = loss + penalty.loss(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    return losses
