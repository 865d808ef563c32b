"""Batch-1 CPU latency and on-disk size, the deployment numbers metrics.json reports beside
accuracy (which, like every accuracy, comes from fedrobust.evaluation; re-exported here)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from fedrobust.evaluation.measure import accuracy, predict
from fedrobust.models.base import TextClassifier

__all__ = ["accuracy", "latency_ms", "predict", "size_bytes"]


@torch.no_grad()
def latency_ms(model: TextClassifier, tokenizer: Any, texts: list[str], examples: int = 200, warmup: int = 10) -> float:
    """Median wall-clock ms to tokenize and classify one text at batch size 1 on this CPU."""
    was_training = model.training
    model.eval()
    texts = texts[:examples] or ["a"]
    for text in texts[:warmup]:
        enc = tokenizer([text])
        model(enc["input_ids"], enc["attention_mask"])
    times = []
    for text in texts:
        start = time.perf_counter()
        enc = tokenizer([text])
        model(enc["input_ids"], enc["attention_mask"])
        times.append((time.perf_counter() - start) * 1000.0)
    model.train(was_training)
    return float(statistics.median(times))


def size_bytes(path: str | Path) -> int:
    """Bytes on disk of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
