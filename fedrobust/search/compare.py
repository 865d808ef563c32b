"""Paired comparison of a searched student with the hand-designed one, over seeds and test texts,
and the verdict rule of `fedrobust search-final` (fedrobust.search.final).

Both students are re-trained once per seed and scored on the same test texts (the same attacked
sample). Per seed s the paired difference is d_s = acc(searched, s) - acc(reference, s). Two 95%
intervals of the mean difference:
- over seeds: Student's t with S - 1 degrees of freedom on the d_s (training randomness);
- over texts: a percentile bootstrap of the mean over texts of the per-text difference of the two
  students' correctness averaged over the seeds (which texts the test split happens to hold).
The verdict uses their union (the lower of the two lower bounds, the higher of the upper bounds).
"""

from __future__ import annotations

import math
from statistics import mean, stdev
from typing import Any, Sequence

from scipy.stats import t as student_t

from fedrobust.evaluation.confidence import bootstrap_mean_interval

RULE = ("A searched student wins when, re-trained at the full distill budget once per seed and scored on the "
        "public test split, it is at least as accurate as the hand-designed student (the 95% interval of the paired "
        "natural-accuracy difference lies above -margin) and either more robust (the interval of the paired "
        "robust-accuracy difference lies above 0 under every attack family) or as robust (above -margin under every "
        "family) and at least size_ratio times smaller (parameters). An interval is the union of the t interval over "
        "seeds and the paired bootstrap over test texts.")


def seed_summary(values: Sequence[float]) -> dict[str, Any]:
    return {"mean": mean(values), "sd": stdev(values) if len(values) > 1 else 0.0, "per_seed": list(values)}


def paired_difference(
    searched: Sequence[Sequence[int]], reference: Sequence[Sequence[int]], confidence: float = 0.95,
    resamples: int = 2000, seed: int = 0,
) -> dict[str, Any]:
    """``searched[s][i]``, ``reference[s][i]``: 1 when text i is classified right (after the attack) by
    the student trained with seed s. Returns the mean difference, its sd over seeds and intervals."""
    if len(searched) != len(reference) or any(len(a) != len(b) for a, b in zip(searched, reference)):
        raise ValueError("paired scores need the same seeds and the same texts for both students")
    seeds, texts = len(searched), len(searched[0])
    diffs = [mean(a) - mean(b) for a, b in zip(searched, reference)]
    centre = mean(diffs)
    if seeds > 1:
        spread = stdev(diffs)
        margin = float(student_t.ppf(0.5 + confidence / 2, seeds - 1)) * spread / math.sqrt(seeds)
        over_seeds = (centre - margin, centre + margin)
    else:
        spread, over_seeds = 0.0, (-math.inf, math.inf)
    per_text = [mean(searched[s][i] for s in range(seeds)) - mean(reference[s][i] for s in range(seeds))
                for i in range(texts)]
    over_texts = bootstrap_mean_interval(per_text, confidence, resamples, seed)
    return {
        "mean": centre, "sd": spread, "per_seed": diffs,
        "interval_seeds": list(over_seeds), "interval_texts": list(over_texts),
        # a difference of accuracies lies in [-1, 1]; the t interval of few seeds may reach past it
        "interval": [max(-1.0, min(over_seeds[0], over_texts[0])), min(1.0, max(over_seeds[1], over_texts[1]))],
    }


def judge(
    natural: dict[str, Any], robust: dict[str, dict[str, Any]], params: int, reference_params: int,
    margin: float, size_ratio: float,
) -> dict[str, Any]:
    """The verdict of RULE for one searched student from its paired differences."""
    as_accurate = bool(natural["interval"][0] >= -margin)
    more_robust = bool(robust) and all(d["interval"][0] > 0 for d in robust.values())
    as_robust = bool(robust) and all(d["interval"][0] >= -margin for d in robust.values())
    smaller = bool(params * size_ratio <= reference_params)
    return {"at_least_as_accurate": as_accurate, "more_robust": more_robust, "as_robust": as_robust,
            "smaller": smaller, "wins": as_accurate and (more_robust or (as_robust and smaller))}


def _interval(d: dict[str, Any]) -> str:
    return f"{d['mean']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]"


def verdict_sentence(judged: Sequence[dict[str, Any]], budget: str) -> str:
    """One sentence: the winners with their differences, or that none was found at ``budget``."""
    winners = [j for j in judged if j["verdict"]["wins"]]
    if not winners:
        return (f"No searched student beats the hand-designed one at the stated budget ({budget}): none is at least as "
                "accurate and more robust, or as robust and smaller, with 95% intervals.")
    parts = []
    for j in winners:
        robust = ", ".join(f"{label} {_interval(d)}" for label, d in j["robust"].items())
        why = "more robust" if j["verdict"]["more_robust"] else f"as robust and {j['size_ratio']:.1f}x smaller"
        parts.append(f"{j['key']} ({why}; natural {_interval(j['natural'])}; robust {robust})")
    return f"Searched student(s) beating the hand-designed one at {budget}: " + "; ".join(parts) + "."
