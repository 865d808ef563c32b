"""Per-example quantities membership attacks read off a model."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from fedrobust.models.base import TextClassifier

BATCH = 64


@torch.no_grad()
def logits_of(model: TextClassifier, tokenizer, texts: Sequence[str]) -> torch.Tensor:
    model.eval()
    chunks = []
    for start in range(0, len(texts), BATCH):
        encoded = tokenizer(list(texts[start:start + BATCH]))
        chunks.append(model(encoded["input_ids"], encoded["attention_mask"]).float())
    return torch.cat(chunks) if chunks else torch.empty(0, 0)


def losses(model: TextClassifier, tokenizer, texts: Sequence[str], labels: Sequence[int]) -> torch.Tensor:
    """Cross-entropy of each example under ``model``."""
    logits = logits_of(model, tokenizer, texts)
    return F.cross_entropy(logits, torch.as_tensor(list(labels), dtype=torch.long), reduction="none")


def scaled_confidence(model: TextClassifier, tokenizer, texts: Sequence[str], labels: Sequence[int]) -> torch.Tensor:
    """log(p_y / (1 - p_y)), computed stably from the logits (LiRA's statistic: close to Gaussian)."""
    logits = logits_of(model, tokenizer, texts)
    y = torch.as_tensor(list(labels), dtype=torch.long)
    correct = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf"))
    return correct - torch.logsumexp(others, dim=1)
