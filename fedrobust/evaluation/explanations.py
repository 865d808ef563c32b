"""One model's explanations measured on a set of texts: agreement with a reference model's token
attributions (fedrobust.evaluation.agreement: the teacher's, explaining the same gold labels) and
faithfulness of its own (fedrobust.evaluation.faithfulness), with the flat columns a study table shows.

    teacher_attr = attribute(teacher, teacher_tokenizer, texts, labels, method=m)   # once per study
    measured = measure_explanations(student, tokenizer, texts, labels, reference=teacher_attr, attribution=m)
    row.update(table_columns(measured))   # expl_spearman, expl_top5, deletion_auc_diff, ... with intervals

``m`` is the attribution method (``grad_x_input`` by default, or ``integrated_gradients``): the model's
own attributions, the agreement and the faithfulness ranking all use it, and the reference must have
been computed with it (a mismatch is refused).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from fedrobust.evaluation.agreement import agreement_summary, compare_attributions
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, TokenAttributions, attribute, special_ids
from fedrobust.evaluation.device_statistics import summarize_differences
from fedrobust.evaluation.faithfulness import FRACTIONS, faithfulness
from fedrobust.models.base import TextClassifier


def measure_explanations(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], *,
    reference: TokenAttributions | None = None, k: int = 5, fractions: Sequence[float] = FRACTIONS, seed: int = 0,
    attribution: str = DEFAULT_ATTRIBUTION,
) -> dict[str, Any]:
    """``agreement`` / ``agreement_rows`` against ``reference`` (attributions of the same texts for
    the gold ``labels`` by the same ``attribution`` method; left out without one) and
    ``faithfulness`` / ``faithfulness_rows``."""
    measured: dict[str, Any] = {"k": k, "attribution": attribution}
    if reference is not None:
        own = attribute(model, tokenizer, texts, labels, method=attribution)
        rows = compare_attributions(own, reference, special_ids(tokenizer), k=k)
        measured["agreement_rows"], measured["agreement"] = rows, agreement_summary(rows, k=k, seed=seed)
    measured["faithfulness_rows"], measured["faithfulness"] = faithfulness(
        model, tokenizer, texts, labels, fractions=fractions, seed=seed, attribution=attribution)
    return measured


def _round(value: float) -> float | str:
    return "" if value is None or math.isnan(value) else round(float(value), 4)


def table_columns(measured: dict[str, Any]) -> dict[str, float | str]:
    """Flat columns: agreement means with their 95% intervals (``_ci95_low`` / ``_ci95_high``), and per
    faithfulness mode the area under the attributed and random curves and their paired difference."""
    columns: dict[str, float | str] = {}
    k = measured["k"]
    agreement = measured.get("agreement")
    for key, name in (("spearman", "expl_spearman"), (f"top{k}_overlap", f"expl_top{k}")):
        mean, (low, high) = ((agreement[f"mean_{key}"], agreement[f"mean_{key}_ci95"]) if agreement
                             else (math.nan, (math.nan, math.nan)))
        columns.update({name: _round(mean), f"{name}_ci95_low": _round(low), f"{name}_ci95_high": _round(high)})
    for mode in ("deletion", "insertion"):
        section = measured["faithfulness"].get(mode)
        if section is None:
            continue
        diff = section["auc_diff"]
        columns.update({f"{mode}_auc": _round(section["auc"]), f"{mode}_auc_random": _round(section["auc_random"]),
                        f"{mode}_auc_diff": _round(diff["mean"]), f"{mode}_auc_diff_ci95_low": _round(diff["ci95"][0]),
                        f"{mode}_auc_diff_ci95_high": _round(diff["ci95"][1])})
    return columns


def paired_over_texts(first: Sequence[dict[str, Any]], second: Sequence[dict[str, Any]], key: str, seed: int = 0
                      ) -> dict[str, Any]:
    """``first - second`` of one per-text value (rows of the same texts, in the same order): mean, bootstrap
    95% interval over texts, Wilcoxon p, and the texts where first is higher, lower, equal."""
    if [r["example_index"] for r in first] != [r["example_index"] for r in second]:
        raise ValueError("paired_over_texts needs the rows of the same texts in the same order")
    diffs = [float(a[key]) - float(b[key]) for a, b in zip(first, second)]
    result = summarize_differences(diffs, seed=seed)
    result["texts"] = result.pop("devices")
    return result
