"""DP-SGD for the BiGRU-attention student with per-sample gradients from a stacked computation, 2.5x
faster than Opacus's hooks on quickstart devices (simulations/dp_sgd_benchmark.py).

Opacus computes per-sample gradients with hooks on every layer; for this student that means its
DPGRU, a GRU cell called once per token with a hook per call, and a dense (batch, vocabulary, rank)
per-sample gradient of the embedding table, which is almost all zeros. Here every text of a batch
gets its own copy of the weights, stacked along a first dimension, and the model runs as batched
matrix products over that dimension (fedrobust.models.students.bigru_attention_stacked, the forward of the stacked
personalization engine, with one text per slice); the texts' losses are
summed, so slice i's gradient is text i's own gradient. The embedding table is stacked only over
the rows the batch reads, which is exact: the gradient of every other row is zero.

The rest is DP-SGD as Opacus runs it, and uses Opacus where it can: Poisson batches from Opacus's
``UniformWithReplacementSampler`` at rate 1 / len(loader), each text's whole gradient clipped to
``max_grad_norm`` (factor min(1, C / (norm + 1e-6)), Opacus's formula), Gaussian noise of standard
deviation ``noise_multiplier * C`` on every trainable element (all rows of the table), division by
the expected batch size int(n * rate), then the optimizer; an empty batch is a noise-only step.
The accountant history is (noise, rate, steps) as Opacus records it; the caller turns it into an
epsilon with Opacus's accountant (fedrobust.privacy.dp_personalization).

Scope (``eligible``): ``bigru_attention`` with a factorized embedding, every parameter trained.
Other students, and training of a subset of parameters (a head, adapters), keep Opacus's engine.
The tests (tests/test_privacy_stacked_dp_sgd.py) check each slice's gradient against the text's own
gradient from torch's model, and a noise-free step against lr * mean_i clip(g_i).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from fedrobust.models.embeddings import FactorizedEmbedding
from fedrobust.models.students.bigru_attention import BiGRUAttentionStudent
from fedrobust.models.students.bigru_attention_stacked import parameter_layout, stacked_logits, stacked_view

OPACUS_NORM_EPS = 1e-6  # Opacus adds it to each per-sample norm before dividing


def eligible(model: nn.Module, parameters: Sequence[nn.Parameter] | None) -> bool:
    """Whether this engine can train ``model`` (all of it: ``parameters`` None or every parameter)."""
    if type(model) is not BiGRUAttentionStudent or not isinstance(model.embedding, FactorizedEmbedding):
        return False
    if parameters is None:
        return True
    chosen = {id(p) for p in parameters}
    return all(id(p) in chosen for p in model.parameters())


def per_sample_gradients(model: BiGRUAttentionStudent, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                         labels: torch.Tensor, embedding_drop: torch.Tensor | None = None,
                         feature_drop: torch.Tensor | None = None,
                         ) -> tuple[dict[nn.Parameter, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each text's own gradient of its cross-entropy: {parameter: (B, *shape)} for every parameter but
    the table; the table's (B, R, rank) gradient on the rows the batch reads; those rows (R,); the batch's
    mean loss. Dropout masks (already scaled by 1 / (1 - p)): (B, L, dim) and (B, features); None means
    no dropout."""
    k = len(labels)
    length = max(1, int(attention_mask.sum(dim=1).max()))
    ids, mask = input_ids[:, :length], attention_mask[:, :length].bool()
    rows = torch.unique(ids[mask]) if bool(mask.any()) else torch.zeros(1, dtype=torch.long)
    position = torch.zeros(int(ids.max()) + 1, dtype=torch.long)
    position[rows] = torch.arange(len(rows))
    compact = torch.where(mask, position[ids], torch.zeros_like(ids))
    views = parameter_layout(model)
    stacked = {}
    for name, (param, transposed) in views.items():
        base = stacked_view(param, transposed)
        stacked[name] = base.expand(k, *base.shape).clone().requires_grad_(True)
    table = model.embedding.table.weight.detach()[rows]
    stacked["table"] = table.expand(k, *table.shape).clone().requires_grad_(True)
    dim, features = views["project"][0].shape[0], views["head_w"][0].shape[1]
    embedding_drop = torch.ones(k, length, dim) if embedding_drop is None else embedding_drop[:, :length]
    feature_drop = torch.ones(k, features) if feature_drop is None else feature_drop
    logits = stacked_logits(stacked, compact[:, None], mask[:, None], embedding_drop, feature_drop[:, None])
    losses = F.cross_entropy(logits.reshape(k, -1), labels, reduction="none")
    losses.sum().backward()
    grads = {views[name][0]: (t.grad.transpose(1, 2) if views[name][1] else t.grad[:, 0])
             for name, t in stacked.items() if name != "table"}
    return grads, stacked["table"].grad, rows, losses.detach().mean()


class StackedDPSGD:
    """DP-SGD steps on one BiGRU-attention student (see the module docstring)."""

    def __init__(self, model: BiGRUAttentionStudent, optimizer: torch.optim.Optimizer, noise_multiplier: float,
                 max_grad_norm: float, expected_batch_size: int, noise_generator: torch.Generator,
                 dropout_generator: torch.Generator, penalty=None) -> None:
        self.model, self.optimizer = model, optimizer
        self.noise_multiplier, self.max_grad_norm = noise_multiplier, max_grad_norm
        self.expected_batch_size = expected_batch_size
        self.noise_generator, self.dropout_generator = noise_generator, dropout_generator
        self.penalty = penalty
        self.table = model.embedding.table.weight

    def _dropout(self, shape: tuple[int, ...]) -> torch.Tensor | None:
        rate = self.model.dropout.p
        if rate <= 0:
            return None
        return torch.empty(shape).bernoulli_(1 - rate, generator=self.dropout_generator) / (1 - rate)

    def step(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> float | None:
        """One DP-SGD step on a Poisson batch (possibly empty); returns the batch's mean loss, None when empty."""
        summed: dict[nn.Parameter, torch.Tensor] = {p: torch.zeros_like(p) for p in self.model.parameters()}
        loss = None
        if len(labels):
            k, length = input_ids.shape
            dim, features = self.model.embedding.dim, self.model.classifier.in_features
            grads, table_rows, rows, mean_loss = per_sample_gradients(
                self.model, input_ids, attention_mask, labels,
                self._dropout((k, length, dim)), self._dropout((k, features)))
            squared = table_rows.pow(2).sum(dim=(1, 2))
            for g in grads.values():
                squared = squared + g.reshape(k, -1).pow(2).sum(dim=1)
            factor = (self.max_grad_norm / (squared.sqrt() + OPACUS_NORM_EPS)).clamp(max=1.0)
            for p, g in grads.items():
                summed[p] = torch.einsum("i,i...->...", factor, g)
            summed[self.table].index_add_(0, rows, torch.einsum("i,i...->...", factor, table_rows))
            loss = float(mean_loss)
        std = self.noise_multiplier * self.max_grad_norm
        for p in self.model.parameters():  # every element is noised, read or not
            noise = torch.normal(0.0, std, p.shape, generator=self.noise_generator) if std > 0 else 0.0
            p.grad = (summed[p] + noise) / self.expected_batch_size
        if self.penalty is not None:  # data-independent: after clipping and noise, no privacy cost
            self.penalty.add_gradient(self.model)
        self.optimizer.step()
        return loss


def expected_batch_size(n: int, sample_rate: float) -> int:
    """Opacus's divisor for a mean-reduced loss: int(n * rate), at least 1."""
    return max(1, int(n * sample_rate))

