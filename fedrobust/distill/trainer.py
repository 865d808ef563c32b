"""The distillation loop: every objective on every batch, summed with its weight.

Works on the cached teacher outputs (no teacher in the loop). After each epoch the student is
scored on a held-out part of the public training split; the best epoch's weights are kept,
or the last epoch's when asked (adversarial training gets stronger with every epoch, which
natural validation accuracy does not see).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.compression.pruning import apply_masks
from fedrobust.distill.losses.base import Objective
from fedrobust.models.base import TextClassifier

log = logging.getLogger(__name__)


@dataclass
class WeightedObjective:
    name: str
    weight: float
    objective: Objective
    start_epoch: int = 1  # 1-based; later starts let the student fit the teacher before robust training

    def active(self, epoch: int) -> bool:
        return epoch >= self.start_epoch


class TrainingHook:
    """What a constrained training (fedrobust.distill.compression: ADMM, quantization-aware
    training) adds to the loop; every method is a no-op here."""

    def penalty(self, student: TextClassifier) -> torch.Tensor | None:
        """A term added to the batch's loss."""
        return None

    def before_step(self, student: TextClassifier) -> None:
        """After the backward pass, before gradient clipping and the optimizer step."""

    def after_step(self, student: TextClassifier) -> None:
        """After the optimizer step (and the masks)."""

    def end_epoch(self, student: TextClassifier) -> dict[str, float]:
        """Before the epoch's validation; returns figures for the epoch's history row."""
        return {}


def make_batch(cache: dict[str, torch.Tensor], labels: torch.Tensor, idx: torch.Tensor) -> DistillBatch:
    mask = cache["attention_mask"][idx]
    length = int(mask.sum(dim=1).max())  # drop the columns that are padding for the whole batch
    return DistillBatch(
        input_ids=cache["input_ids"][idx, :length],
        attention_mask=mask[:, :length],
        labels=labels[idx],
        teacher_logits=cache["logits"][idx],
        teacher_features=cache["features"][idx],
        teacher_attributions=cache["attributions"][idx, :length],
        teacher_masked_logits=cache["masked_logits"][idx],
    )


@torch.no_grad()
def cached_accuracy(
    student: TextClassifier, cache: dict[str, torch.Tensor], labels: torch.Tensor, idx: torch.Tensor, batch_size: int = 128
) -> float:
    if len(idx) == 0:
        return float("nan")
    was_training = student.training
    student.eval()
    correct = 0
    for start in range(0, len(idx), batch_size):
        batch = make_batch(cache, labels, idx[start : start + batch_size])
        correct += int((student(batch.input_ids, batch.attention_mask).argmax(1) == batch.labels).sum())
    student.train(was_training)
    return correct / len(idx)


def drop_tokens(
    batch: DistillBatch, rate: float, unk_id: int, special_ids: list[int], generator: torch.Generator
) -> DistillBatch:
    """Word dropout on the student's input: the teacher's targets stay those of the clean text."""
    if rate <= 0:
        return batch
    droppable = (batch.attention_mask == 1) & ~torch.isin(batch.input_ids, torch.tensor(special_ids))
    drop = (torch.rand(batch.input_ids.shape, generator=generator) < rate) & droppable
    return dataclasses.replace(batch, input_ids=batch.input_ids.masked_fill(drop, unk_id))


def student_pass(student: TextClassifier, batch: DistillBatch) -> StudentPass:
    embeddings = student.embed(batch.input_ids)
    if not embeddings.requires_grad:  # table-free students (PRADO): gradients w.r.t. the projection
        embeddings = embeddings.detach().requires_grad_(True)
    return StudentPass(embeddings, student.classify_embeddings(embeddings, batch.attention_mask))


def train_student(
    student: TextClassifier,
    objectives: list[WeightedObjective],
    cache: dict[str, torch.Tensor],
    labels: torch.Tensor,
    train_idx: torch.Tensor,
    val_idx: torch.Tensor,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    grad_clip: float = 1.0,
    seed: int = 0,
    masks: dict[str, torch.Tensor] | None = None,
    phase: str = "train",
    token_dropout: float = 0.0,
    unk_id: int = 100,
    special_ids: list[int] | None = None,
    decay_lr: bool = True,
    keep_best_epoch: bool = True,
    epoch_offset: int = 0,
    hooks: Sequence[TrainingHook] = (),
) -> list[dict[str, Any]]:
    """Train in place and keep the best validation epoch's weights (or the last epoch's);
    returns one history row per epoch. An objective joins from its ``start_epoch``, counted
    from ``epoch_offset`` + 1 (a fine-tuning phase continues the count of the main phase).
    ``hooks`` add a penalty to every batch's loss and act around every optimizer step."""
    generator = torch.Generator().manual_seed(seed)
    random.seed(seed)
    params = [p for p in student.parameters() if p.requires_grad]
    params += [p for o in objectives for p in o.objective.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total_steps = max(1, epochs * ((len(train_idx) + batch_size - 1) // batch_size))
    # Linear decay to zero: the last epochs take small steps, so the best-epoch pick is less noisy.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - step / total_steps) if decay_lr else 1.0
    )
    history: list[dict[str, Any]] = []
    best_acc, best_state = cached_accuracy(student, cache, labels, val_idx), copy.deepcopy(student.state_dict())
    for epoch in range(epochs):
        student.train()
        started = time.perf_counter()
        active = [o for o in objectives if o.active(epoch_offset + epoch + 1)]
        for o in active:
            o.objective.on_epoch_start(student, epoch)
        sums = {o.name: 0.0 for o in objectives}
        steps = 0
        order = train_idx[torch.randperm(len(train_idx), generator=generator)]
        for start in range(0, len(order), batch_size):
            batch = make_batch(cache, labels, order[start : start + batch_size])
            batch = drop_tokens(batch, token_dropout, unk_id, special_ids or [], generator)
            clean = student_pass(student, batch)
            total = clean.output.logits.new_zeros(())
            for o in active:
                value = o.objective(student, batch, clean)
                sums[o.name] += float(value.detach())
                total = total + o.weight * value
            for hook in hooks:
                extra = hook.penalty(student)
                total = total if extra is None else total + extra
            optimizer.zero_grad()
            total.backward()
            for hook in hooks:
                hook.before_step(student)
            if grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            schedule.step()
            apply_masks(student, masks or {})
            for hook in hooks:
                hook.after_step(student)
            steps += 1
        hook_figures = {k: v for hook in hooks for k, v in hook.end_epoch(student).items()}
        val_acc = cached_accuracy(student, cache, labels, val_idx)
        row = {
            "phase": phase,
            "epoch": epoch + 1,
            "val_acc": val_acc,
            "seconds": time.perf_counter() - started,
            **{f"loss_{k}": v / max(steps, 1) for k, v in sums.items()},
            **hook_figures,
        }
        history.append(row)
        log.info(
            "%s epoch %d/%d val_acc %.4f %s (%.1fs)",
            phase,
            epoch + 1,
            epochs,
            val_acc,
            " ".join(f"{k}={v / max(steps, 1):.4f}" for k, v in sums.items()),
            row["seconds"],
        )
        if not val_acc < best_acc:  # ties go to the later epoch (more training at equal accuracy)
            best_acc, best_state = val_acc, copy.deepcopy(student.state_dict())
    if keep_best_epoch:
        student.load_state_dict(best_state)
    student.eval()
    return history
