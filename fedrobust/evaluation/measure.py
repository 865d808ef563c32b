"""Natural accuracy and accuracy under attack of one model on one pool of texts: the functions
every stage (distill, evaluate, the federated device phase, search, benchmarks) measures with.

    metrics = measure(model, tokenizer, texts, labels, AttackEvalConfig(examples=10), seed=7)
    # {"natural_acc": .., "loss": .., "adversarial_acc": .., "attack_success_rate": .., "n_attacked": ..}
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from fedrobust.evaluation.attack_eval import evaluate_attack
from fedrobust.evaluation.config import AttackEvalConfig
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, LOSS, N_ATTACKED, NATURAL_ACC
from fedrobust.models.base import TextClassifier

EVAL_BATCH = 64


@torch.no_grad()
def predict_logits(model: TextClassifier, tokenizer: Any, texts: Sequence[str], batch_size: int = EVAL_BATCH) -> torch.Tensor:
    """Logits (n, num_labels) in eval mode; the model's train/eval mode is restored after."""
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(list(texts[start:start + batch_size]))
        chunks.append(model(encoded["input_ids"], encoded["attention_mask"]))
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, model.num_labels)


def predict(model: TextClassifier, tokenizer: Any, texts: Sequence[str]) -> torch.Tensor:
    """Predicted labels (n,), long."""
    return predict_logits(model, tokenizer, texts).argmax(-1)


def natural_metrics(model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int]) -> dict[str, float]:
    """``natural_acc`` and ``loss`` on every text; both NaN when there are no texts."""
    if not texts:
        return {NATURAL_ACC: math.nan, LOSS: math.nan}
    logits = predict_logits(model, tokenizer, texts)
    y = torch.as_tensor(list(labels), dtype=torch.long)
    # correct / n in double precision, the same ratio summarize_attack reports for a sample
    return {NATURAL_ACC: int((logits.argmax(-1) == y).sum()) / len(texts),
            LOSS: float(F.cross_entropy(logits, y))}


def accuracy(model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int]) -> float:
    return natural_metrics(model, tokenizer, texts, labels)[NATURAL_ACC]


def attack_metrics(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], settings: AttackEvalConfig,
    seed: int,
) -> dict[str, float]:
    """Accuracy under ``settings.attack`` on a seeded sample of ``settings.examples`` texts
    (TextAttack's conventions: failed attacks over attacked texts; success rate over the texts
    that were classified correctly before)."""
    if not settings.attacks_anything or not texts:
        return {ADVERSARIAL_ACC: math.nan, ATTACK_SUCCESS_RATE: math.nan, N_ATTACKED: 0}
    _, summary = evaluate_attack(model, tokenizer, texts, labels, settings.attack, examples=settings.examples,
                                 max_queries=settings.max_queries, seed=seed)
    return {key: summary[key] for key in (ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED)}


def measure(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], settings: AttackEvalConfig,
    seed: int,
) -> dict[str, float]:
    """Natural metrics on every text plus accuracy under attack on the seeded sample."""
    return {**natural_metrics(model, tokenizer, texts, labels),
            **attack_metrics(model, tokenizer, texts, labels, settings, seed)}
