"""Explanation agreement between two models on the same tokens (e.g. a student and its teacher).

Per example: Spearman rank correlation of the token attributions and top-k overlap (the share
of one model's k most important tokens that are among the other's). Special tokens ([CLS],
[SEP]) are left out when the tokenizer names them. Attributions are compared by magnitude by
default: a token that strongly argues against the class is still important. Both models are
explained by the same method (``attribution``: gradient x input by default, or integrated
gradients; fedrobust.evaluation.attributions).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from fedrobust.errors import ConfigError
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, TokenAttributions, attribute, special_ids
from fedrobust.evaluation.confidence import bootstrap_mean_interval
from fedrobust.models.base import TextClassifier


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + ends - 1) / 2 + 1, ends - starts)
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho; nan when fewer than two values or one side is constant."""
    if len(a) < 2:
        return math.nan
    ra, rb = average_ranks(np.asarray(a, float)), average_ranks(np.asarray(b, float))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else math.nan


def top_k_overlap(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k, with k capped at the number of tokens."""
    k = min(k, len(a))
    if k == 0:
        return math.nan
    top_a = set(np.argsort(-a, kind="mergesort")[:k].tolist())
    top_b = set(np.argsort(-b, kind="mergesort")[:k].tolist())
    return len(top_a & top_b) / k


def compare_attributions(
    attr_a: TokenAttributions, attr_b: TokenAttributions, special: set[int], *, k: int = 5,
    use_magnitude: bool = True,
) -> list[dict[str, Any]]:
    """Per-example rows (``spearman``, ``top<k>_overlap``) of two models' attributions of the same
    texts on the same tokens, special tokens left out."""
    if attr_a.method != attr_b.method:
        raise ConfigError(f"explanation agreement compares attributions of one method; got {attr_a.method} and "
                          f"{attr_b.method} (compute both with the same attribution setting)")
    if attr_a.input_ids != attr_b.input_ids:
        raise ConfigError(
            "explanation agreement needs both models on the same tokens; the two tokenizers split "
            "the texts differently (use the teacher's WordPiece tokenizer for both)"
        )
    rows = []
    for i, (ids, sa, sb) in enumerate(zip(attr_a.input_ids, attr_a.scores, attr_b.scores)):
        keep = np.array([tok not in special for tok in ids], dtype=bool)
        a, b = np.asarray(sa, dtype=np.float64)[keep], np.asarray(sb, dtype=np.float64)[keep]
        if use_magnitude:
            a, b = np.abs(a), np.abs(b)
        rows.append(
            {
                "example_index": i,
                "target": attr_a.targets[i],
                "num_tokens": int(keep.sum()),
                "spearman": spearman(a, b),
                f"top{k}_overlap": top_k_overlap(a, b, k),
            }
        )
    return rows


def agreement_summary(rows: Sequence[dict[str, Any]], *, k: int, use_magnitude: bool = True, seed: int = 0
                      ) -> dict[str, Any]:
    """Means of the rows' Spearman and top-k overlap (nan rows left out) with bootstrap 95% intervals,
    and what attributions unrelated to the other model's would score: Spearman 0 and, per text of n
    tokens, a top-k overlap of min(k, n) / n on average (``chance_top<k>_overlap``)."""
    summary: dict[str, Any] = {"num_examples": len(rows), "k": k, "use_magnitude": use_magnitude}
    for key in ("spearman", f"top{k}_overlap"):
        values = [r[key] for r in rows if not math.isnan(r[key])]
        summary[f"mean_{key}"] = float(np.mean(values)) if values else math.nan
        summary[f"mean_{key}_ci95"] = list(bootstrap_mean_interval(values, seed=seed))
    summary[f"chance_top{k}_overlap"] = chance_top_k([r["num_tokens"] for r in rows if not math.isnan(r[f"top{k}_overlap"])], k)
    return summary


def chance_top_k(token_counts: Sequence[int], k: int) -> float:
    """The expected top-k overlap of two unrelated rankings, averaged over texts: min(k, n) / n for a
    text of n tokens (a text of at most k tokens overlaps fully)."""
    counts = [n for n in token_counts if n > 0]
    return float(np.mean([min(k, n) / n for n in counts])) if counts else math.nan


def explanation_agreement(
    model_a: TextClassifier,
    model_b: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    k: int = 5,
    targets: Sequence[int] | None = None,
    use_magnitude: bool = True,
    tokenizer_b: Any = None,
    seed: int = 0,
    attribution: str = DEFAULT_ATTRIBUTION,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-example agreement rows and their means with bootstrap 95% intervals.

    Both models explain the same target (``targets``, else model_a's prediction) on the same
    token sequence, by the same ``attribution`` method (fedrobust.evaluation.attributions); a
    second tokenizer is accepted only if it produces identical ids.
    """
    attr_a = attribute(model_a, tokenizer, texts, targets, method=attribution)
    attr_b = attribute(model_b, tokenizer_b or tokenizer, texts, attr_a.targets, method=attribution)
    rows = compare_attributions(attr_a, attr_b, special_ids(tokenizer), k=k, use_magnitude=use_magnitude)
    return rows, {**agreement_summary(rows, k=k, use_magnitude=use_magnitude, seed=seed), "attribution": attribution}
