"""Personalization of many devices at once: the BiGRU-attention student fine-tuned on K devices in
one stacked computation, each device with its own weights, data, batch order, dropout and Adam
state, so that a node's cohort pays the per-operation overhead of a small model once per step
instead of once per device. It serves personalization (``personalize.engine: stacked``) and the
local training of FedAvg-style rounds (``local.engine: stacked``, fedrobust.federated.stacked_rounds);
``train_stacked`` also reports each device's training loss.

Every device's weights are stacked along a first dimension and the model is written out as
batched matrix products over that dimension (a GRU step by step in both directions, additive
attention, the head); each device's loss is its own mean over its batch, and the devices' losses
are summed, so each device's gradient is its own. Adam runs element-wise on the stacks, with a
step count per device; a device whose epochs are over takes no step.

Exactness across stack sizes: a device's numbers must not depend on which other devices share
its stack, since results may not depend on how many devices a Flower node holds. Torch's CPU
kernels give bit-identical slices of a batched product only when every slice has the same shape
(the shape of the other dimensions decides the blocking), so every device's batches are padded to
a shape that depends on the device alone (``device_shape``: its batch size and its longest text
rounded up to 8 tokens; padded rows count in no loss, padded positions keep the GRU state), only
devices of one shape share a stack, the embedding rows are looked up and their gradients
accumulated by index (exact whatever the table's height), everything runs on one thread, and a
lone device is stacked with a copy of itself (a single slice takes another kernel path). Torch's
element-wise kernels run a vector body and a scalar tail that round transcendental functions (and
fused products and sums) differently, and the tail's position depends on the whole stack; so the
GRU's width must be a multiple of 16 (every per-device element-wise tensor then fills whole
vectors), and the optimizer uses no fused kernel. A device alone is then bit for bit the
same computation as that device's slice of any larger stack; the tests check it.
The numbers are not those of ``local_training.train_locally`` (torch's packed GRU, another random
stream for dropout), so the two are not mixed within one run: the config chooses the engine.

Scope: ``bigru_attention`` students with a factorized embedding and a GRU width that is a multiple
of 16, every parameter trained, Adam, no DP-SGD, no adversarial objective, no penalty (``eligible``
says which); the federation's ``personalize.engine: stacked`` refuses anything else
(fedrobust.federated.device_eval).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from fedrobust.models.embeddings import FactorizedEmbedding
from fedrobust.models.students.bigru_attention import BiGRUAttentionStudent
from fedrobust.models.students.bigru_attention_stacked import parameter_layout, stacked_logits, stacked_view
from fedrobust.privacy.accounting import clear_dp_report

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which local training uses


@dataclass
class DeviceJob:
    """One device's personalization: its starting model, tokenized training texts and seed."""

    model: BiGRUAttentionStudent
    input_ids: torch.Tensor  # (n, length <= max_length)
    attention_mask: torch.Tensor
    labels: torch.Tensor  # (n,)
    seed: int


def eligible(model: torch.nn.Module, settings) -> bool:
    """Whether the stacked engine can personalize ``model`` under ``settings`` (TrainSettings)."""
    return (type(model) is BiGRUAttentionStudent and isinstance(model.embedding, FactorizedEmbedding)
            and model.gru.hidden_size % 16 == 0
            and model.embedding.table.weight.requires_grad and not settings.adversarial
            and (settings.dp is None or not settings.dp.enabled) and settings.optimizer == "adam")


# the stacked parameters, in this order; each is (K, ...) and laid out for x @ W
_NAMES = ("table", "project", "w_ih", "w_hh", "b_ih", "b_hh", "w_ih_r", "w_hh_r", "b_ih_r", "b_hh_r",
          "att_w", "att_b", "att_v", "head_w", "head_b")


def _device_tensors(model: BiGRUAttentionStudent, rows: torch.Tensor) -> dict[str, torch.Tensor]:
    tensors = {name: stacked_view(param, transposed) for name, (param, transposed) in parameter_layout(model).items()}
    return {"table": model.embedding.table.weight.detach()[rows], **tensors}


def _stack(per_device: list[dict[str, torch.Tensor]], table_rows: int) -> dict[str, torch.Tensor]:
    stacked = {}
    for name in _NAMES:
        parts = [d[name] for d in per_device]
        if name == "table":  # pad every device's rows to the stack's height; padded rows are never read
            parts = [F.pad(p, (0, 0, 0, table_rows - p.shape[0])) for p in parts]
        stacked[name] = torch.stack([p.contiguous() for p in parts]).clone().requires_grad_(True)
    return stacked


class _StackedAdam:
    """torch.optim.Adam's single-tensor update on stacked parameters, with a step count per device;
    devices not in ``active`` keep their weights and moments."""

    def __init__(self, params: dict[str, torch.Tensor], lr: float, devices: int) -> None:
        self.params, self.lr = params, lr
        self.m = {n: torch.zeros_like(t) for n, t in params.items()}
        self.v = {n: torch.zeros_like(t) for n, t in params.items()}
        self.steps = torch.zeros(devices, dtype=torch.float64)

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        self.steps += active.to(torch.float64)
        beta1, beta2 = BETAS
        correction1 = 1 - beta1 ** self.steps.clamp(min=1)
        correction2 = 1 - beta2 ** self.steps.clamp(min=1)
        step_size = (self.lr / correction1).to(torch.float32)
        root_correction2 = correction2.sqrt().to(torch.float32)
        for name, p in self.params.items():
            shape = (-1,) + (1,) * (p.dim() - 1)
            on = active.reshape(shape)
            grad = p.grad
            # separate products and sums, not lerp: a fused kernel rounds differently in its vector body
            # and its scalar tail, and which elements fall in the tail depends on the stack
            m = torch.where(on, self.m[name] * beta1 + grad * (1 - beta1), self.m[name])
            v = torch.where(on, self.v[name] * beta2 + (1 - beta2) * grad * grad, self.v[name])
            denom = v.sqrt() / root_correction2.reshape(shape) + EPS
            p.copy_(torch.where(on, p - step_size.reshape(shape) * m / denom, p))
            self.m[name], self.v[name] = m, v


def _padded(job: DeviceJob, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The device's texts at exactly ``length`` tokens (padding past a text's end is dropped or added)."""
    ids, mask = job.input_ids[:, :length], job.attention_mask[:, :length]
    return F.pad(ids, (0, length - ids.shape[1])), F.pad(mask, (0, length - mask.shape[1]))


def _batch_plan(n: int, batch_size: int, epochs: int, generator: torch.Generator) -> list[torch.Tensor]:
    """The device's batches (indices into its texts), epoch after epoch, as local training draws them."""
    batches = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        batches += [order[start:start + batch_size] for start in range(0, n, batch_size)]
    return batches


def device_shape(job: DeviceJob, batch_size: int, max_length: int) -> tuple[int, int]:
    """(rows, tokens) of every batch of this device in the stack: its batch size (``batch_size``, or
    all its texts when it has fewer) and its longest text rounded up to a multiple of 8 (at most
    ``max_length``). Only devices of one shape share a stack; the shape depends on the device alone."""
    n, longest = len(job.labels), int(job.attention_mask.sum(dim=1).max()) if len(job.labels) else 1
    if longest > max_length:
        raise ValueError(f"a device's texts are {longest} tokens, above max_length {max_length}")
    return min(batch_size, max(n, 1)), min(max_length, -(-max(longest, 1) // 8) * 8)


def personalize_stacked(jobs: Sequence[DeviceJob], epochs: int, lr: float, batch_size: int,
                        max_length: int, max_stack: int = 32) -> list[BiGRUAttentionStudent]:
    """Each job's model fine-tuned on its texts (a new model per job, in the jobs' order; the jobs'
    models are not changed), devices of one shape (``device_shape``) in stacks of at most
    ``max_stack``. See the module docstring for what is exact."""
    return [result.model for result in train_stacked(jobs, epochs, lr, batch_size, max_length, max_stack)]


@dataclass
class StackedResult:
    """One device's trained model, its mean training loss over its steps (as ``train_locally``
    reports it: the mean of its batches' mean losses) and its number of steps."""

    model: BiGRUAttentionStudent
    train_loss: float
    steps: int


def train_stacked(jobs: Sequence[DeviceJob], epochs: int, lr: float, batch_size: int,
                  max_length: int, max_stack: int = 32) -> list[StackedResult]:
    """``personalize_stacked`` with each device's training loss and step count."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(device_shape(job, batch_size, max_length), []).append(index)
    out: list[StackedResult | None] = [None] * len(jobs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for (rows, tokens), members in groups.items():
            for first in range(0, len(members), max_stack):
                chunk = members[first:first + max_stack]
                # torch's batched products over a single slice take another path than over several,
                # so a lone device is stacked with a copy of itself (the copy is dropped)
                stack = [jobs[i] for i in chunk] if len(chunk) > 1 else [jobs[chunk[0]]] * 2
                for i, result in zip(chunk, _train_stack(stack, epochs, lr, rows, tokens)):
                    out[i] = result
    finally:
        torch.set_num_threads(threads)
    return out  # type: ignore[return-value]


def _train_stack(jobs: list[DeviceJob], epochs: int, lr: float, batch_size: int,
                 max_length: int) -> list[StackedResult]:
    k = len(jobs)
    padded = [_padded(job, max_length) for job in jobs]
    reached = [torch.unique(ids[mask.bool()]) for ids, mask in padded]
    params = _stack([_device_tensors(job.model, rows) for job, rows in zip(jobs, reached)],
                    max(1, max(len(rows) for rows in reached)))
    plans = [_batch_plan(len(job.labels), batch_size, epochs, torch.Generator().manual_seed(job.seed))
             for job in jobs]
    steps = max(len(plan) for plan in plans)
    # every step's batch of every device, made once: (K, steps, rows, tokens); padded rows are not real
    batches = [_device_batches(job, ids, mask, rows, plan, steps, batch_size)
               for job, (ids, mask), rows, plan in zip(jobs, padded, reached, plans)]
    rows_all, mask_all, labels_all, real_all = (torch.stack(parts) for parts in zip(*batches))
    rate = jobs[0].model.dropout.p
    embedding_dim, features = params["project"].shape[2], params["head_w"].shape[1]
    # each device's masks for its own steps, in one draw of a shape that depends on it alone (what a
    # draw gives depends on its size), then padded to the stack's steps
    masks: tuple[list[torch.Tensor], list[torch.Tensor]] = ([], [])
    for job, plan in zip(jobs, plans):
        generator = torch.Generator().manual_seed(job.seed + 1)
        for out, shape in zip(masks, ((batch_size, max_length, embedding_dim), (batch_size, features))):
            drawn = _dropout_mask((len(plan), *shape), rate, generator)
            out.append(torch.cat([drawn, torch.ones(steps - len(plan), *shape)]))
    drop_e, drop_f = torch.stack(masks[0]), torch.stack(masks[1])
    optimizer = _StackedAdam(params, lr, k)
    loss_sums, step_counts = torch.zeros(k, dtype=torch.float64), torch.zeros(k, dtype=torch.long)
    for step in range(steps):
        real = real_all[:, step]
        logits = stacked_logits(params, rows_all[:, step], mask_all[:, step], drop_e[:, step], drop_f[:, step])
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels_all[:, step].reshape(-1),
                                 reduction="none").reshape(k, batch_size)
        per_device = (losses * real).sum(dim=1) / real.sum(dim=1).clamp(min=1)
        for p in params.values():
            p.grad = None
        per_device.sum().backward()
        active = real.any(dim=1)
        optimizer.step(active)
        loss_sums += torch.where(active, per_device.detach().to(torch.float64), 0.0)
        step_counts += active.long()
    return [StackedResult(_unstacked(job.model, params, d, rows),
                          float(loss_sums[d] / step_counts[d]) if step_counts[d] else float("nan"), int(step_counts[d]))
            for d, (job, rows) in enumerate(zip(jobs, reached))]


def _device_batches(job: DeviceJob, ids: torch.Tensor, mask: torch.Tensor, reached: torch.Tensor,
                    plan: list[torch.Tensor], steps: int, batch_size: int) -> tuple[torch.Tensor, ...]:
    """(compact row ids, mask, labels, real) of each of the device's ``steps`` batches, each padded to
    ``batch_size`` rows; padding positions read row 0 (masked everywhere it matters)."""
    position = torch.zeros(int(ids.max()) + 1, dtype=torch.long)
    position[reached] = torch.arange(len(reached))
    compact = torch.where(mask.bool(), position[ids], torch.zeros_like(ids))
    index = torch.zeros(steps, batch_size, dtype=torch.long)
    real = torch.zeros(steps, batch_size, dtype=torch.bool)
    for step, chosen in enumerate(plan):
        index[step, :len(chosen)], real[step, :len(chosen)] = chosen, True
    return (compact[index] * real[..., None], mask[index].bool() & real[..., None], job.labels[index] * real, real)


def _dropout_mask(shape: tuple[int, ...], rate: float, generator: torch.Generator) -> torch.Tensor:
    if rate <= 0:
        return torch.ones(shape)
    keep = torch.empty(shape).bernoulli_(1 - rate, generator=generator)
    return keep / (1 - rate)


@torch.no_grad()
def _unstacked(start: BiGRUAttentionStudent, params: dict[str, torch.Tensor], d: int,
               rows: torch.Tensor) -> BiGRUAttentionStudent:
    model = copy.deepcopy(start)
    clear_dp_report(model)
    model.embedding.table.weight[rows] = params["table"][d, :len(rows)]
    for name, (target, transposed) in parameter_layout(model).items():
        target.copy_(params[name][d].t() if transposed else params[name][d, 0])
    model.eval()
    return model

