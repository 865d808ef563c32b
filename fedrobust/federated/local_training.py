"""One device's local training: a pure function of (model, data, settings, seed).

Used by every algorithm for federated rounds and for personalization. Options: a subset of
parameters, an algorithm's data-independent penalty (FedProx's and Ditto's proximal term), and
embedding-space PGD adversarial training (the same objective the distillation uses). With DP
settings the training is DP-SGD (fedrobust.privacy.dp_personalization), continuing the
accountant history ``dp_prior`` of the device's earlier DP-SGD steps that the model carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fedrobust.distill.batch import DistillBatch
from fedrobust.distill.losses.embedding_pgd import EmbeddingPGD
from fedrobust.models.base import TextClassifier
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
    optimizer = torch.optim.Adam(params, lr=settings.lr)
    encoded = tokenizer(list(texts))
    targets = torch.as_tensor(list(labels), dtype=torch.long)
    model.train()
    losses = []
    for _ in range(settings.epochs):
        order = torch.randperm(len(targets), generator=generator)
        for start in range(0, len(order), settings.batch_size):
            index = order[start:start + settings.batch_size]
            ids, mask, y = encoded["input_ids"][index], encoded["attention_mask"][index], targets[index]
            logits = model(ids, mask)
            loss = F.cross_entropy(logits, y)
            if settings.adversarial:
                loss = 0.5 * loss + 0.5 * _adversarial_loss(model, ids, mask, y, settings)
            if penalty is not None:
                loss = loss + penalty.loss(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return {"train_loss": sum(losses) / len(losses), "steps": len(losses)}
