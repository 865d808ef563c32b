"""The one seeded sampler for every evaluation: which texts an attack (or a metric) runs on."""

from __future__ import annotations

import numpy as np

from fedrobust.errors import ConfigError


def sample_indices(n: int, max_examples: int | None, seed: int) -> list[int]:
    """All indices, or a seeded random subset of ``max_examples`` kept in original order."""
    if max_examples is not None and max_examples < 0:
        raise ConfigError(f"max_examples must be >= 0, got {max_examples}")
    if max_examples is None or max_examples >= n:
        return list(range(n))
    chosen = np.random.default_rng(seed).choice(n, size=max_examples, replace=False)
    return sorted(int(i) for i in chosen)
