"""After the search: score chosen students on the public test split (never used to select)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fedrobust.data import FederatedDataset
from fedrobust.models import load_model
from fedrobust.search.config import EvaluationSection
from fedrobust.search.evaluator import attacked_metrics


def score_on_test(model_dir: str | Path, data_dir: str | Path, evaluation: EvaluationSection, seed: int) -> dict[str, Any]:
    """test_natural_acc on the whole test split, test_adversarial_acc (and the rest of
    attacked_metrics) on a seeded sample of `evaluation.test_examples` texts."""
    public = FederatedDataset.load(data_dir).public()
    texts, labels = list(public.test_texts), [int(y) for y in public.test_labels]
    model, tokenizer = load_model(model_dir)
    settings = dataclasses.replace(evaluation, examples=evaluation.test_examples)
    return {**attacked_metrics(model, tokenizer, texts, labels, settings, seed, prefix="test"),
            "test_examples": len(texts)}
