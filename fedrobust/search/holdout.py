"""After the search: score chosen students on the public test split (never used to select)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedrobust.distill.measure import accuracy
from fedrobust.evaluation import evaluate_attack
from fedrobust.models import load_model
from fedrobust.search.config import EvaluationSection


def score_on_test(model_dir: str | Path, data_dir: str | Path, evaluation: EvaluationSection, seed: int) -> dict[str, Any]:
    from fedrobust.data import FederatedDataset

    public = FederatedDataset.load(data_dir).public()
    texts, labels = list(public.test_texts), [int(y) for y in public.test_labels]
    model, tokenizer = load_model(model_dir)
    _, attack = evaluate_attack(
        model, tokenizer, texts, labels, attack=evaluation.attack, max_examples=evaluation.test_attack_examples,
        max_queries=evaluation.max_queries, seed=seed,
    )
    return {
        "test_natural_acc": accuracy(model, tokenizer, texts, labels),
        "test_adv_acc": float(attack["adv_acc"]),
        "test_attacked": int(attack["num_examples"]),
        "test_examples": len(texts),
    }
