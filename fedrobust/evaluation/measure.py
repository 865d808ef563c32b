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

from fedrobust.evaluation.attack_eval import TextPool, evaluate_threats, evaluate_threats_pooled
from fedrobust.evaluation.config import AttackEvalConfig
from fedrobust.evaluation.metrics import (
    ADVERSARIAL_ACC,
    ATTACK_SUCCESS_RATE,
    CONSTANT,
    CONSTANT_SHARE,
    LOSS,
    N_ATTACKED,
    N_CORRECT_ATTACKED,
    NATURAL_ACC,
    THREAT_METRICS,
    TOP_CLASS_SHARE,
    threat_metric,
)
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


def natural_metrics(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], *, profile: bool = False,
) -> dict[str, float]:
    """``natural_acc`` and ``loss`` on every text (both NaN when there are none); with ``profile``
    also the prediction profile (prediction_profile)."""
    if not texts:
        empty = {NATURAL_ACC: math.nan, LOSS: math.nan}
        return {**empty, **prediction_profile(torch.empty(0, dtype=torch.long))} if profile else empty
    logits = predict_logits(model, tokenizer, texts)
    y = torch.as_tensor(list(labels), dtype=torch.long)
    # correct / n in double precision, the same ratio summarize_attack reports for a sample
    metrics = {NATURAL_ACC: int((logits.argmax(-1) == y).sum()) / len(texts), LOSS: float(F.cross_entropy(logits, y))}
    return {**metrics, **prediction_profile(logits.argmax(-1))} if profile else metrics


def accuracy(model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int]) -> float:
    return natural_metrics(model, tokenizer, texts, labels)[NATURAL_ACC]


def prediction_profile(predictions: torch.Tensor) -> dict[str, float]:
    """How concentrated a model's predictions are on one device: the share of its most frequent
    class, and the flag for a (near-)constant model, whose accuracy under attack is meaningless."""
    if predictions.numel() == 0:
        return {TOP_CLASS_SHARE: math.nan, CONSTANT: 0}
    share = float(torch.bincount(predictions).max()) / predictions.numel()
    return {TOP_CLASS_SHARE: share, CONSTANT: int(share >= CONSTANT_SHARE)}


def attack_metrics(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], settings: AttackEvalConfig,
    seed: int,
) -> dict[str, float]:
    """Accuracy under every threat of ``settings`` on a seeded sample of ``settings.examples`` texts
    (TextAttack's conventions: failed attacks over attacked texts; success rate over the texts
    that were classified correctly before), under ``adversarial_acc[<threat>]`` names, plus the
    primary threat's under the plain names."""
    if not _attacks_anything(settings) or not texts:
        return _no_attack_metrics(settings)
    return _threat_metrics(evaluate_threats(model, tokenizer, texts, labels, settings, seed), settings)


def attack_metrics_pooled(
    model: TextClassifier, tokenizer: Any, pools: Sequence[TextPool], settings: AttackEvalConfig,
) -> list[dict[str, float]]:
    """``attack_metrics`` of one model on each pool (one device's texts and seed), the attacks of
    all pools run as one batch (fedrobust.evaluation.attack_eval.evaluate_threats_pooled)."""
    scored = [k for k, pool in enumerate(pools) if pool.texts] if _attacks_anything(settings) else []
    out = [_no_attack_metrics(settings) for _ in pools]
    if scored:
        pooled = evaluate_threats_pooled(model, tokenizer, [pools[k] for k in scored], settings)
        for k, results in zip(scored, pooled):
            out[k] = _threat_metrics(results, settings)
    return out


def _attacks_anything(settings: AttackEvalConfig) -> bool:
    return bool(settings.labels()) and settings.attacks_anything


def _no_attack_metrics(settings: AttackEvalConfig) -> dict[str, float]:
    labels = settings.labels() if settings.attacks_anything else []
    empty = {ADVERSARIAL_ACC: math.nan, ATTACK_SUCCESS_RATE: math.nan, N_ATTACKED: 0, N_CORRECT_ATTACKED: 0}
    return {**empty, **{threat_metric(m, label): math.nan for label in labels for m in THREAT_METRICS}}


def _threat_metrics(results: dict[str, tuple[list, dict[str, Any]]], settings: AttackEvalConfig) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for label, (_, summary) in results.items():
        metrics.update({threat_metric(m, label): summary[m] for m in THREAT_METRICS})
    primary = results[settings.labels()[0]][1]
    return {**{m: primary[m] for m in THREAT_METRICS}, N_ATTACKED: primary[N_ATTACKED],
            N_CORRECT_ATTACKED: primary["num_successful"] + primary["num_failed"], **metrics}


def measure(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], settings: AttackEvalConfig,
    seed: int, attacked: dict[str, float] | None = None,
) -> dict[str, float]:
    """Natural metrics and the prediction profile on every text, accuracy under each threat on
    the seeded sample (``attacked``: those metrics already measured, e.g. by ``attack_metrics_pooled``)."""
    natural = natural_metrics(model, tokenizer, texts, labels, profile=True)
    if attacked is None:
        attacked = attack_metrics(model, tokenizer, texts, labels, settings, seed)
    return {**natural, **attacked}
