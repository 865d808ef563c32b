"""Accuracy, batch-1 CPU latency and on-disk size: the numbers metrics.json reports."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from fedrobust.models.base import TextClassifier


@torch.no_grad()
def predict(model: TextClassifier, tokenizer: Any, texts: list[str], batch_size: int = 64) -> torch.Tensor:
    was_training = model.training
    model.eval()
    preds = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(texts[start : start + batch_size])
        preds.append(model(enc["input_ids"], enc["attention_mask"]).argmax(dim=1))
    model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def accuracy(model: TextClassifier, tokenizer: Any, texts: list[str], labels: list[int]) -> float:
    if not texts:
        return float("nan")
    return float((predict(model, tokenizer, texts) == torch.tensor(labels)).float().mean())


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
