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


def fmt_mean_sd(figure: dict[str, Any] | None, with_sd: bool = True) -> str:
    """A figure over seeds (fedrobust.evaluation.device_statistics.across_seeds) as ``mean ± sd``;
    ``–`` when no seed measured it."""
    if not figure or not figure.get("seeds") or math.isnan(figure["mean"]):
        return "–"
    sd = figure.get("sd", math.nan)
    return f"{figure['mean']:.3f}" + ("" if not with_sd or math.isnan(sd) else f" ± {sd:.3f}")
