"""Reference predictors every accuracy is read against."""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence


def majority_label(train_labels: Sequence[int]) -> int | None:
    """The most frequent training label (ties: the smallest label); None without labels."""
    if not train_labels:
        return None
    counts = Counter(int(y) for y in train_labels)
    return min(counts, key=lambda label: (-counts[label], label))


def majority_accuracy(train_labels: Sequence[int], test_labels: Sequence[int]) -> float:
    """Accuracy on ``test_labels`` of always predicting the majority of ``train_labels``: a device
    whose texts lean to one label scores high here without any model (NaN without test texts)."""
    label = majority_label(train_labels)
    if label is None or not test_labels:
        return math.nan
    return sum(int(y) == label for y in test_labels) / len(test_labels)
