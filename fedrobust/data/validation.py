"""A device's validation texts: carved from its train split when the dataset is loaded.

``validation_fraction`` is a data-preparation setting stored in meta.json (key
``validation_fraction``; directories prepared before it existed have none and load without a
validation split). Each device keeps ``round(fraction * n_train)`` of its train texts (half up)
for validation, and at least one text for training, so a device with fewer than
``1 / (2 * fraction)`` train texts gets no validation text (at 0.1: fewer than 5).

The rows depend only on the client id (a sha256, not Python's salted ``hash``), the number of
train texts and the fraction: every process, and every later load, carves the same ones.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

DEFAULT_VALIDATION_FRACTION = 0.1
META_KEY = "validation_fraction"


def validation_size(n_train: int, fraction: float) -> int:
    """Validation texts carved from ``n_train`` train texts (one train text always stays)."""
    if fraction <= 0 or n_train < 2:
        return 0
    return min(n_train - 1, math.floor(fraction * n_train + 0.5))


def client_seed(client_id: str) -> int:
    return int.from_bytes(hashlib.sha256(client_id.encode("utf-8")).digest()[:8], "big")


def validation_rows(client_id: str, n_train: int, fraction: float) -> list[int]:
    """Sorted positions, in the device's train split, of its validation texts."""
    size = validation_size(n_train, fraction)
    if size == 0:
        return []
    return sorted(np.random.default_rng(client_seed(client_id)).permutation(n_train)[:size].tolist())


def carve(client_id: str, texts: list[str], labels: list[int], fraction: float
          ) -> tuple[list[str], list[int], list[str], list[int]]:
    """(train texts, train labels, validation texts, validation labels), both in source order."""
    held = set(validation_rows(client_id, len(texts), fraction))
    if not held:
        return texts, labels, [], []
    keep = [i for i in range(len(texts)) if i not in held]
    return ([texts[i] for i in keep], [labels[i] for i in keep],
            [texts[i] for i in sorted(held)], [labels[i] for i in sorted(held)])
