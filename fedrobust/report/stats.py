"""Means over clients with normal-approximation 95% intervals, for tables and error bars."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np


def finite(values: Iterable[Any]) -> np.ndarray:
    array = np.array([float(v) for v in values], dtype=float)
    return array[np.isfinite(array)]


def mean_ci(values: Iterable[Any]) -> tuple[float, float]:
    """Mean and half-width of its 95% interval (nan when there is nothing to average)."""
    array = finite(values)
    if array.size == 0:
        return math.nan, math.nan
    half = 1.96 * array.std(ddof=1) / math.sqrt(array.size) if array.size > 1 else math.nan
    return float(array.mean()), float(half)


def fmt_mean_ci(values: Iterable[Any]) -> str:
    mean, half = mean_ci(values)
    if math.isnan(mean):
        return "–"
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"
