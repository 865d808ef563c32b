"""Statistics over devices, for designs where each device is one unit of evidence.

A device contributes ``correct`` of ``total`` test texts. Two accuracies follow, and papers need
both: the **macro** mean (every device counts once: what a typical phone sees) and the **micro**
or pooled accuracy (every text counts once). Their 95% intervals come from a percentile bootstrap
over devices, the unit that was sampled. Two algorithms measured on the same devices are compared
by their **paired** per-device differences: a bootstrap interval of the mean difference and a
Wilcoxon signed-rank test (with an exact sign-flip permutation test beside it for small samples).

    macro_micro([3, 5, 0], [4, 5, 2])          # {"macro": 0.583.., "micro": 0.727.., ...}
    paired_difference([0.8, 0.6], [0.7, 0.6])  # {"mean": 0.05, "ci95": [..], "p_wilcoxon": ..}
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from fedrobust.evaluation.confidence import bootstrap_mean_interval

RESAMPLES = 2000
CONFIDENCE = 0.95


def _interval(samples: np.ndarray, confidence: float) -> list[float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return [float(low), float(high)]


def macro_micro(
    correct: Sequence[float], totals: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Macro (mean of per-device accuracies) and micro (pooled) accuracy, each with a bootstrap
    interval over devices; devices with no texts are left out."""
    c = np.asarray(correct, dtype=np.float64)
    n = np.asarray(totals, dtype=np.float64)
    keep = np.isfinite(c) & np.isfinite(n) & (n > 0)
    c, n = c[keep], n[keep]
    result: dict[str, Any] = {"devices": int(c.size), "texts": int(n.sum())}
    if c.size == 0:
        return {**result, "macro": math.nan, "macro_ci95": [math.nan, math.nan],
                "micro": math.nan, "micro_ci95": [math.nan, math.nan]}
    per_device = c / n
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, c.size, size=(resamples, c.size))
    macro_samples = per_device[picks].mean(axis=1)
    micro_samples = c[picks].sum(axis=1) / n[picks].sum(axis=1)
    return {**result,
            "macro": float(per_device.mean()), "macro_ci95": _interval(macro_samples, confidence),
            "micro": float(c.sum() / n.sum()), "micro_ci95": _interval(micro_samples, confidence)}


def _sign_flip_p(diffs: np.ndarray, resamples: int, seed: int) -> float:
    """Two-sided p of the mean difference under sign flips: every sign pattern up to 15 devices
    (exact), else ``resamples`` random ones counted with the observed pattern, (k + 1) / (R + 1)."""
    observed = abs(diffs.mean()) - 1e-12
    if diffs.size <= 15:
        signs = ((np.arange(2 ** diffs.size)[:, None] >> np.arange(diffs.size)) & 1) * 2 - 1
        return float(np.mean(np.abs((signs * diffs).mean(axis=1)) >= observed))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, diffs.size))
    extreme = int(np.sum(np.abs((signs * diffs).mean(axis=1)) >= observed))
    return (extreme + 1) / (resamples + 1)


def _wilcoxon_p(diffs: np.ndarray) -> float:
    if not np.any(diffs != 0):
        return 1.0
    from scipy.stats import wilcoxon  # scipy is slow to import; only comparisons need it

    return float(wilcoxon(diffs, zero_method="wilcox").pvalue)


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """``a - b`` per device, pairs with a missing side dropped, summarized by summarize_differences."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired_difference needs one value per device on both sides, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return summarize_differences(x[keep] - y[keep], resamples=resamples, seed=seed, confidence=confidence)


def summarize_differences(
    differences: Sequence[float], *, resamples: int = RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE,
) -> dict[str, Any]:
    """Per-device differences (nan left out): mean, bootstrap interval over devices, Wilcoxon
    signed-rank and sign-flip permutation p-values, and how many devices are better, worse, tied.
    ``detected`` is False when the interval covers 0."""
    diffs = np.asarray(differences, dtype=np.float64)
    diffs = diffs[np.isfinite(diffs)]
    result: dict[str, Any] = {"devices": int(diffs.size), "better": int((diffs > 0).sum()),
                              "worse": int((diffs < 0).sum()), "tied": int((diffs == 0).sum())}
    if diffs.size == 0:
        return {**result, "mean": math.nan, "ci95": [math.nan, math.nan], "p_wilcoxon": math.nan,
                "p_permutation": math.nan, "detected": False}
    ci = list(bootstrap_mean_interval(diffs, confidence=confidence, resamples=resamples, seed=seed))
    return {**result, "mean": float(diffs.mean()), "ci95": ci, "p_wilcoxon": _wilcoxon_p(diffs),
            "p_permutation": _sign_flip_p(diffs, resamples, seed), "detected": bool(ci[0] > 0 or ci[1] < 0)}


def across_seeds(values: Sequence[float]) -> dict[str, Any]:
    """Mean ± sample standard deviation of one figure over seeds (nan values are left out)."""
    array = np.asarray(values, dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return {"seeds": 0, "mean": math.nan, "sd": math.nan}
    return {"seeds": int(array.size), "mean": float(array.mean()),
            "sd": float(array.std(ddof=1)) if array.size > 1 else math.nan}


def describe_difference(diff: dict[str, Any], digits: int = 3) -> str:
    """``+0.041 [0.012, 0.070], p=0.004`` or ``... no difference detected``."""
    if diff.get("devices", 0) == 0 or math.isnan(diff.get("mean", math.nan)):
        return "–"
    low, high = diff["ci95"]
    text = f"{diff['mean']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}], p={diff['p_wilcoxon']:.3g}"
    return text if diff["detected"] else text + ", no difference detected"
