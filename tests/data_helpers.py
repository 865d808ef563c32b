"""Small synthetic corpora for data-layer tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fedrobust.data.sources.base import make_dataset

WORDS = "good bad great awful fine dull bright grim warm cold".split()


def synthetic_rows(n: int = 600, num_labels: int = 3, num_owners: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        words = rng.choice(WORDS, size=5)
        rows.append({"review": f"{i} " + " ".join(words), "stars": f"c{rng.integers(num_labels)}", "who": f"u{rng.integers(num_owners):03d}"})
    return rows


def synthetic_dataset(n: int = 600, num_labels: int = 3, num_owners: int = 40, seed: int = 0):
    rows = synthetic_rows(n, num_labels, num_owners, seed)
    return make_dataset([r["review"] for r in rows], [r["stars"] for r in rows], owners=[r["who"] for r in rows])


def write_csv(path: Path, rows: list[dict]) -> Path:
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(path: Path, blob) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(blob))
    return path
