"""Tiny pieces for distillation tests: separable synthetic reviews prepared as a federated
dataset, and the tiny BERT of models_helpers saved like a hub model."""

from __future__ import annotations

import random
from pathlib import Path

from fedrobust.data.prepare import DataConfig, prepare
from tests.models_helpers import tiny_teacher, tokenizer

GOOD = "great wonderful moving funny warm brilliant".split()
BAD = "dull boring awful flat cold tedious".split()


def prepare_tiny_reviews(root: Path, reviews: int, users: int, public_fraction: float) -> Path:
    """``reviews`` three-sentiment-word texts, alternating labels, owned by ``users`` users; returns the data folder."""
    rng = random.Random(0)
    rows = ["text,label,who"]
    for i in range(reviews):
        label = i % 2
        words = rng.sample(GOOD if label else BAD, 3) + rng.sample("the a film plot cast story".split(), 2)
        rng.shuffle(words)
        rows.append(f"{' '.join(words)},{'pos' if label else 'neg'},u{i % users}")
    (root / "reviews.csv").write_text("\n".join(rows) + "\n")
    options = DataConfig(source=f"csv:{root / 'reviews.csv'}", partition="natural", min_samples=2,
                         public_fraction=public_fraction, owner_column="who")
    prepare(options, root / "data")
    return root / "data"


def save_hub_like_teacher(folder: Path) -> Path:
    """The tiny 2-label BERT and the offline tokenizer in one folder, loadable as `--model FOLDER`."""
    tiny_teacher().save_pretrained(folder)
    tokenizer().hf.save_pretrained(folder)
    return folder
