"""Discrete adversarial examples mixed into training (adversarial data augmentation).

At the start of each epoch the project's attack (``fedrobust.attacks``) is run against the
current student on ``pool_size`` random training texts; every successful adversarial text
joins a pool, and each step the student is trained on a batch from the pool. ``target``:
- ``teacher``: keep the teacher's prediction for the clean text (KD at ``temperature``) and the
  gold label (CE) on the adversarial text;
- ``consistency`` (TRADES, Zhang et al. 2019): keep the student's own prediction, KL from its
  distribution on the clean text to the one on the adversarial text, gradients through both;
  it asks for invariance only, not for a label the typos may have erased.
"""

from __future__ import annotations

import logging
import random

import torch
import torch.nn.functional as F

from fedrobust.attacks import ATTACKS, build_attack
from fedrobust.distill.batch import DistillBatch, StudentPass
from fedrobust.distill.losses.base import Objective, ObjectiveContext, kd_loss
from fedrobust.distill.losses.registry import OBJECTIVES
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier

log = logging.getLogger(__name__)


@OBJECTIVES.register("discrete_adversarial")
class DiscreteAdversarial(Objective):
    def __init__(
        self,
        context: ObjectiveContext,
        attack: str = "fast_deepwordbug",
        pool_size: int = 256,
        max_queries: int = 200,
        temperature: float = 2.0,
        max_pool: int = 2000,
        target: str = "teacher",
        min_teacher_confidence: float = 0.0,
    ) -> None:
        super().__init__()
        if target not in ("teacher", "consistency"):
            raise ConfigError(f"objectives.discrete_adversarial.target must be teacher or consistency, got {target!r}")
        if not 0.0 <= min_teacher_confidence < 1.0:
            raise ConfigError("objectives.discrete_adversarial.min_teacher_confidence must be in [0, 1), "
                              f"got {min_teacher_confidence}")
        self.target = target
        ATTACKS.get(attack)  # an unknown name fails now, before training
        self.attack_name, self.pool_size, self.max_queries = attack, pool_size, max_queries
        self.temperature, self.max_pool = temperature, max_pool
        self.context = context
        self.rng = random.Random(context.seed)
        self.pool_texts: list[str] = []
        self.pool_origins: list[int] = []  # the training text each adversarial text came from
        # Only texts whose gold label the teacher gives at least this probability are attacked:
        # holding a label under typos is asked only where the label is clear.
        gold_probability = torch.softmax(context.train_teacher_logits.float(), dim=-1)[
            torch.arange(len(context.train_labels)), torch.tensor(context.train_labels, dtype=torch.long)]
        self.candidates = [i for i, p in enumerate(gold_probability.tolist()) if p >= min_teacher_confidence]

    def on_epoch_start(self, student: TextClassifier, epoch: int) -> None:
        ctx = self.context
        picks = self.rng.sample(self.candidates, min(self.pool_size, len(self.candidates)))
        was_training = student.training
        student.eval()
        attack = build_attack(
            self.attack_name, student, ctx.tokenizer, max_queries=self.max_queries, seed=ctx.seed + epoch
        )
        records = attack.attack([ctx.train_texts[i] for i in picks], [ctx.train_labels[i] for i in picks])
        student.train(was_training)
        added = 0
        for i, record in zip(picks, records):
            if record.result == "successful":
                self.pool_texts.append(record.perturbed_text)
                self.pool_origins.append(i)
                added += 1
        overflow = len(self.pool_texts) - self.max_pool
        if overflow > 0:  # keep the newest examples: they attack the current student
            del self.pool_texts[:overflow], self.pool_origins[:overflow]
        log.info("discrete adversarial: %d/%d attacks succeeded, pool %d", added, len(picks), len(self.pool_texts))

    def forward(self, student: TextClassifier, batch: DistillBatch, clean: StudentPass) -> torch.Tensor:
        if not self.pool_texts:
            return clean.output.logits.new_zeros(())
        size = min(len(batch.labels), len(self.pool_texts))
        idx = self.rng.sample(range(len(self.pool_texts)), size)
        origins = [self.pool_origins[i] for i in idx]
        ctx = self.context
        encoded = ctx.tokenizer([self.pool_texts[i] for i in idx])
        logits = student(encoded["input_ids"], encoded["attention_mask"])
        if self.target == "consistency":
            clean_encoded = ctx.tokenizer([ctx.train_texts[o] for o in origins])
            clean_logits = student(clean_encoded["input_ids"], clean_encoded["attention_mask"])
            return kd_loss(logits, clean_logits, self.temperature)
        labels = torch.tensor([ctx.train_labels[o] for o in origins])
        teacher = ctx.train_teacher_logits[origins]
        return kd_loss(logits, teacher, self.temperature) + F.cross_entropy(logits, labels)
