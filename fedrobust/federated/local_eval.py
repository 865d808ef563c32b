"""One device's evaluation: natural accuracy and loss on its test data, and accuracy under
attack on a seeded per-client sample of it."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from fedrobust.federated.config import EvalConfig
from fedrobust.models.base import TextClassifier

EVAL_BATCH = 64


@torch.no_grad()
def natural_metrics(model: TextClassifier, tokenizer, texts: Sequence[str], labels: Sequence[int]) -> dict[str, float]:
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(texts), EVAL_BATCH):
        encoded = tokenizer(list(texts[start:start + EVAL_BATCH]))
        y = torch.as_tensor(list(labels[start:start + EVAL_BATCH]), dtype=torch.long)
        logits = model(encoded["input_ids"], encoded["attention_mask"])
        correct += int((logits.argmax(-1) == y).sum())
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
    n = max(1, len(texts))
    return {"natural_acc": correct / n, "loss": loss_sum / n}


def adversarial_metrics(
    model: TextClassifier, tokenizer, texts: Sequence[str], labels: Sequence[int], settings: EvalConfig, seed: int
) -> dict[str, float]:
    """Accuracy under attack (TextAttack's convention: failed attacks / examples attacked)."""
    if settings.adversarial_examples == 0 or not texts:
        return {"adversarial_acc": float("nan"), "n_adv": 0}
    from fedrobust.attacks import FAILED, build_attack

    generator = torch.Generator().manual_seed(seed)
    sample = torch.randperm(len(texts), generator=generator)[: settings.adversarial_examples].tolist()
    attack = build_attack(settings.attack, model, tokenizer, max_queries=settings.max_queries, seed=seed)
    records = attack.attack([texts[i] for i in sample], [labels[i] for i in sample])
    return {
        "adversarial_acc": sum(r.result == FAILED for r in records) / len(records),
        "n_adv": len(records),
    }


def evaluate_model(model: TextClassifier, tokenizer, texts, labels, settings: EvalConfig, seed: int) -> dict[str, float]:
    return {**natural_metrics(model, tokenizer, texts, labels), **adversarial_metrics(model, tokenizer, texts, labels, settings, seed)}
