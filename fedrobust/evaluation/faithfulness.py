"""Are a model's token attributions faithful? Deletion and insertion curves against random orders.

Per text, the model's prediction on the whole text is the *original class*, and its attributions
for that class (``attribution``: gradient x input by default, or integrated gradients;
fedrobust.evaluation.attributions) rank the text's tokens (special tokens stay in place and are never
ranked). At each fraction f of the text's n ranked tokens, ceil(f * n) tokens are taken in rank order:

- deletion: they are removed from the sequence; the original class's probability should fall
  fast when the ranking is faithful (a low area under the curve);
- insertion: only they are kept, in text order; the probability should rise fast (a high area).

The baseline takes the tokens in a seeded random order (one permutation per text). Each text is one
paired unit: its area under the attributed curve minus its area under the random one, with the mean
difference's percentile bootstrap interval over texts. The same is done for accuracy against the
gold labels. Areas are trapezoids over the fractions, so they are mean heights in [0, 1].

    rows, summary = faithfulness(model, tokenizer, texts, labels, seed=0)
    summary["deletion"]["auc_diff"]   # {"mean": -0.21, "ci95": [-0.25, -0.17], "texts": 200, "detected": True}

Works for any TextClassifier (the teacher too): it needs ``embed`` / ``classify_embeddings`` for the
attributions and ``forward`` on the shortened token sequences.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, attribute, special_ids
from fedrobust.evaluation.confidence import bootstrap_mean_interval
from fedrobust.models.base import TextClassifier
from fedrobust.seeding import derive_seed

FRACTIONS = tuple(step / 10 for step in range(11))
MODES = ("deletion", "insertion")
ORDERS = ("attributed", "random")
BATCH = 64


def taken(n: int, fraction: float) -> int:
    """How many of n ranked tokens a fraction takes (ceil, as the attacks' word budgets)."""
    return min(n, math.ceil(fraction * n - 1e-9))


def area(fractions: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area under the curve divided by the fraction range: the curve's mean height."""
    x, y = np.asarray(fractions, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return float(y.mean()) if y.size else math.nan
    return float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum() / (x[-1] - x[0]))


def variant(ids: list[int], ranked: list[int], chosen: int, mode: str, pad_id: int) -> tuple[int, ...]:
    """The token sequence with the first ``chosen`` of the ``ranked`` positions deleted, or with
    only them kept (insertion); positions not ranked (special tokens) always stay."""
    picked = set(ranked[:chosen])
    rankable = set(ranked)
    if mode == "deletion":
        kept = [tok for pos, tok in enumerate(ids) if pos not in picked]
    else:
        kept = [tok for pos, tok in enumerate(ids) if pos not in rankable or pos in picked]
    # a tokenizer without special tokens leaves nothing at deletion 100%: one padding token stands in
    return tuple(kept) if kept else (pad_id,)


@torch.no_grad()
def probabilities(model: TextClassifier, sequences: list[tuple[int, ...]], pad_id: int, batch_size: int = BATCH
                  ) -> np.ndarray:
    """Softmax outputs (n, C) of unpadded token sequences, scored in batches of similar length."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    out = np.zeros((len(sequences), model.num_labels), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(sequences[i]) for i in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            ids[r, :len(sequences[i])] = torch.tensor(sequences[i], dtype=torch.long)
            mask[r, :len(sequences[i])] = 1
        out[rows] = torch.softmax(model(ids, mask).double(), dim=-1).numpy()
    return out


def _orders(ids: list[int], scores: np.ndarray, special: set[int], use_magnitude: bool, seed: int, index: int
            ) -> dict[str, list[int]]:
    positions = [pos for pos, tok in enumerate(ids) if tok not in special]
    values = scores[positions]
    values = np.abs(values) if use_magnitude else values
    attributed = [positions[j] for j in np.argsort(-values, kind="mergesort")]
    shuffled = np.random.default_rng(derive_seed(seed, "faithfulness", index)).permutation(len(positions))
    return {"attributed": attributed, "random": [positions[j] for j in shuffled]}


def _difference(values: Sequence[float], seed: int) -> dict[str, Any]:
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    low, high = bootstrap_mean_interval(data, seed=seed)
    return {"mean": float(data.mean()) if data.size else math.nan, "ci95": [low, high], "texts": int(data.size),
            "detected": bool(low > 0 or high < 0)}  # False: no difference detected


def faithfulness(
    model: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    fractions: Sequence[float] = FRACTIONS,
    modes: Sequence[str] = MODES,
    use_magnitude: bool = False,
    seed: int = 0,
    attribution: str = DEFAULT_ATTRIBUTION,
    attribution_options: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-text rows (areas under each curve and their differences) and the summary: mean curves,
    mean areas and the paired attributed-minus-random differences with bootstrap 95% intervals.

    Tokens are ranked by signed attribution (the ones that argue most for the original class first);
    ``use_magnitude`` ranks by absolute value instead. ``attribution`` names the method
    (``attribution_options``: its keyword options, e.g. ``{"steps": 64}`` for integrated gradients)."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown faithfulness mode {unknown[0]!r}; one of {', '.join(MODES)}")
    fractions = sorted(float(f) for f in fractions)
    # targets: the model's own predictions
    attr = attribute(model, tokenizer, texts, method=attribution, **(attribution_options or {}))
    special, pad_id = special_ids(tokenizer), int(getattr(tokenizer, "pad_token_id", 0))
    sequences: dict[tuple[int, ...], int] = {}  # each distinct sequence is scored once
    plan = []  # per text: {(mode, order): [sequence index per fraction]}
    for i, (ids, scores) in enumerate(zip(attr.input_ids, attr.scores)):
        orders = _orders(ids, scores.numpy(), special, use_magnitude, seed, i)
        n = len(orders["attributed"])
        steps = {}
        for mode in modes:
            for name, ranked in orders.items():
                keys = [variant(ids, ranked, taken(n, f), mode, pad_id) for f in fractions]
                steps[(mode, name)] = [sequences.setdefault(key, len(sequences)) for key in keys]
        plan.append((n, steps))
    probs = probabilities(model, list(sequences), pad_id)
    rows, curves = [], {(mode, name, kind): [] for mode in modes for name in ORDERS for kind in ("prob", "acc")}
    for i, (n, steps) in enumerate(plan):
        target, label = attr.targets[i], int(labels[i])
        row: dict[str, Any] = {"example_index": i, "label": label, "original_class": target, "num_tokens": n}
        for (mode, name), indices in steps.items():
            prob = probs[indices, target]
            acc = (probs[indices].argmax(axis=1) == label).astype(np.float64)
            curves[(mode, name, "prob")].append(prob)
            curves[(mode, name, "acc")].append(acc)
            suffix = "" if name == "attributed" else "_random"
            row[f"{mode}_auc{suffix}"], row[f"{mode}_acc_auc{suffix}"] = area(fractions, prob), area(fractions, acc)
        for mode in modes:
            row[f"{mode}_auc_diff"] = row[f"{mode}_auc"] - row[f"{mode}_auc_random"]
            row[f"{mode}_acc_auc_diff"] = row[f"{mode}_acc_auc"] - row[f"{mode}_acc_auc_random"]
        rows.append(row)
    summary: dict[str, Any] = {"texts": len(rows), "fractions": fractions, "original_class": "the model's prediction",
                               "ranking": "magnitude" if use_magnitude else "signed", "seed": seed,
                               "attribution": attribution}
    for mode in modes:
        section: dict[str, Any] = {}
        for name in ORDERS:
            suffix = "" if name == "attributed" else "_random"
            for kind in ("prob", "acc"):
                stacked = np.array(curves[(mode, name, kind)]).reshape(len(rows), len(fractions))
                section[f"{kind}_curve{suffix}"] = [float(v) for v in stacked.mean(axis=0)] if rows else []
            section[f"auc{suffix}"] = float(np.mean([r[f"{mode}_auc{suffix}"] for r in rows])) if rows else math.nan
            section[f"acc_auc{suffix}"] = (float(np.mean([r[f"{mode}_acc_auc{suffix}"] for r in rows])) if rows
                                           else math.nan)
        section["auc_diff"] = _difference([r[f"{mode}_auc_diff"] for r in rows], seed)
        section["acc_auc_diff"] = _difference([r[f"{mode}_acc_auc_diff"] for r in rows], seed)
        summary[mode] = section
    return rows, summary
