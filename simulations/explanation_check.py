"""Are the teacher's (and a student's) token attributions faithful, by each attribution method?

On a seeded sample of the public test texts, for each model and each ``--attribution`` method
(fedrobust.evaluation.attributions: ``grad_x_input``, ``integrated_gradients``):

- faithfulness (fedrobust.evaluation.faithfulness): the original class's probability as the
  top-attributed tokens are deleted, or alone inserted, in steps of 10% of the tokens, against a
  seeded random order. ``deletion attributed - random`` is negative and ``insertion attributed -
  random`` positive when the ranking tracks the model's decision; 95% percentile bootstrap intervals
  over texts (paired per text). Tokens are ranked by signed attribution (``--magnitude``: by |.|).
- integrated gradients' completeness: per text |sum of attributions - (f(text) - f(baseline))| /
  |f(text) - f(baseline)|, median and maximum (``--steps`` Riemann points, 32 by default).
- with ``--student``: its agreement with the teacher by the same method (Spearman of |attributions|,
  top-5 overlap, for the gold label; bootstrap intervals over texts), as the distillation study.
- for a Hugging Face teacher, where gradient x input is taken: on BERT's word embeddings w, before
  position + type embeddings p and the embedding LayerNorm. LayerNorm ignores the scale and mean of
  h = w + p, so its gradient g is (nearly) orthogonal to h and g.w ~= -g.p. The check reports the
  correlation over tokens of g.w with -g.p and the ratio mean|g.h| / mean|g.w| (0 when exact).

    python simulations/explanation_check.py --data runs/quickstart/stages/data/<id>/data \\
        --teacher runs/quickstart/stages/teacher/<id>/model --student runs/quickstart/stages/distill/<id>/student \\
        --examples 100 --out runs/explanation_check

A folder given for a model may also be a stage folder holding ``model/`` or ``student/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedrobust.data import FederatedDataset
from fedrobust.evaluation import write_records_csv, write_summary_json
from fedrobust.evaluation.agreement import agreement_summary, compare_attributions
from fedrobust.evaluation.attributions import attribute, attribution_methods, completeness_gaps, special_ids
from fedrobust.evaluation.faithfulness import faithfulness
from fedrobust.evaluation.sampling import sample_indices
from fedrobust.models import load_model


def model_folder(path: Path) -> Path:
    """The model folder itself, or the ``model/`` / ``student/`` folder of a stage folder."""
    for candidate in (path, path / "model", path / "student"):
        if (candidate / "model.json").is_file():
            return candidate
    raise SystemExit(f"{path}: no model.json there, nor in {path / 'model'} or {path / 'student'}")


def _interval(section: dict[str, Any]) -> str:
    low, high = section["ci95"]
    return f"{section['mean']:+.3f} [{low:+.3f}, {high:+.3f}]"


def layernorm_diagnostic(model: Any, tokenizer: Any, texts: list[str]) -> dict[str, float] | None:
    """For a BERT-style teacher: gradient of the predicted logit at the word embeddings w, compared
    with the position + type embeddings p the model adds before its embedding LayerNorm."""
    embeddings = getattr(getattr(getattr(model, "hf", None), "base_model", None), "embeddings", None)
    if embeddings is None or not hasattr(embeddings, "position_embeddings"):
        return None
    gw, gp, gh = [], [], []
    for start in range(0, len(texts), 32):
        batch = tokenizer(texts[start:start + 32])
        ids, mask = batch["input_ids"], batch["attention_mask"]
        w = model.embed(ids).detach().requires_grad_(True)
        logits = model.classify_embeddings(w, mask).logits
        (g,) = torch.autograd.grad(logits.max(dim=1).values.sum(), w)
        p = embeddings.position_embeddings.weight[: ids.shape[1]].unsqueeze(0).detach()
        if getattr(embeddings, "token_type_embeddings", None) is not None:
            p = p + embeddings.token_type_embeddings.weight[0].detach()
        keep = mask.bool()
        gw.append((g * w).sum(-1)[keep].detach())
        gp.append((g * p).sum(-1)[keep].detach())
        gh.append((g * (w + p)).sum(-1)[keep].detach())
    gw_, gp_, gh_ = (torch.cat(x).double().numpy() for x in (gw, gp, gh))
    return {"tokens": int(gw_.size), "corr_gw_minus_gp": float(np.corrcoef(gw_, -gp_)[0, 1]),
            "mean_abs_gh_over_gw": float(np.abs(gh_).mean() / np.abs(gw_).mean())}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="prepared federated dataset (fedrobust data prepare)")
    parser.add_argument("--teacher", type=Path, required=True, help="teacher model folder")
    parser.add_argument("--student", type=Path, default=None, help="optional student model folder")
    parser.add_argument("--examples", type=int, default=100, help="seeded sample of the public test split")
    parser.add_argument("--attribution", nargs="+", choices=attribution_methods(), default=attribution_methods())
    parser.add_argument("--steps", type=int, default=32, help="integrated gradients: Riemann points")
    parser.add_argument("--magnitude", action="store_true", help="rank tokens by |attribution| (default: signed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="writes summary.json, table.md and per-text CSVs")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    public = FederatedDataset.load(args.data).public()
    rows = sample_indices(len(public.test_texts), args.examples, args.seed)
    texts = [public.test_texts[i] for i in rows]
    labels = [int(public.test_labels[i]) for i in rows]
    folders = {"teacher": model_folder(args.teacher)}
    if args.student is not None:
        folders["student"] = model_folder(args.student)
    models = {name: load_model(folder) for name, folder in folders.items()}

    def options(method: str) -> dict[str, Any]:
        return {"steps": args.steps} if method == "integrated_gradients" else {}

    table: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"data": str(args.data), "models": {k: str(v) for k, v in folders.items()},
                               "texts": len(texts), "seed": args.seed, "steps": args.steps,
                               "ranking": "magnitude" if args.magnitude else "signed", "results": {}}
    for method in args.attribution:
        reference = None
        for name, (model, tokenizer) in models.items():
            per_text, faith = faithfulness(model, tokenizer, texts, labels, seed=args.seed, use_magnitude=args.magnitude,
                                           attribution=method, attribution_options=options(method))
            result: dict[str, Any] = {"faithfulness": faith}
            row = {"model": name, "attribution": method,
                   "deletion AUC attributed / random": f"{faith['deletion']['auc']:.3f} / {faith['deletion']['auc_random']:.3f}",
                   "deletion attributed − random": _interval(faith["deletion"]["auc_diff"]),
                   "insertion AUC attributed / random": f"{faith['insertion']['auc']:.3f} / {faith['insertion']['auc_random']:.3f}",
                   "insertion attributed − random": _interval(faith["insertion"]["auc_diff"])}
            # the gold label's attributions: what agreement compares (and IG's completeness on them)
            gold = attribute(model, tokenizer, texts, labels, method=method, **options(method))
            gaps = completeness_gaps(gold)
            if gaps.size:
                result["completeness_relative_gap"] = {"median": float(np.median(gaps)), "max": float(gaps.max())}
            row["IG completeness gap (median / max)"] = (f"{np.median(gaps):.4f} / {gaps.max():.4f}" if gaps.size
                                                         else "–")
            if name == "teacher":
                reference = gold
                row["ρ with teacher"] = row["top-5 with teacher"] = "–"
            else:
                agreement_rows = compare_attributions(gold, reference, special_ids(tokenizer), k=5)
                agreement = result["agreement"] = agreement_summary(agreement_rows, k=5, seed=args.seed)
                for key, column in (("spearman", "ρ with teacher"), ("top5_overlap", "top-5 with teacher")):
                    low, high = agreement[f"mean_{key}_ci95"]
                    row[column] = f"{agreement[f'mean_{key}']:.3f} [{low:.3f}, {high:.3f}]"
                if args.out:
                    write_records_csv(agreement_rows, args.out / f"{name}_{method}_agreement.csv")
            if args.out:
                write_records_csv(per_text, args.out / f"{name}_{method}_faithfulness.csv")
            summary["results"].setdefault(name, {})[method] = result
            table.append(row)
            print(f"[explanation_check] {name} by {method}: deletion {row['deletion attributed − random']}, "
                  f"insertion {row['insertion attributed − random']}", flush=True)
    teacher, teacher_tokenizer = models["teacher"]
    diagnostic = layernorm_diagnostic(teacher, teacher_tokenizer, texts)
    if diagnostic is not None:
        summary["teacher_layernorm_diagnostic"] = diagnostic
    summary["seconds"] = round(time.perf_counter() - started, 1)

    columns = list(table[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in table]
    markdown = "\n".join(lines)
    print(markdown)
    if diagnostic is not None:
        print(f"teacher, gradient at the word embeddings w vs the position + type embeddings p it adds before "
              f"LayerNorm ({diagnostic['tokens']} tokens): corr(g.w, -g.p) = {diagnostic['corr_gw_minus_gp']:.3f}, "
              f"mean|g.(w+p)| / mean|g.w| = {diagnostic['mean_abs_gh_over_gw']:.3f}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(markdown + "\n")
        write_summary_json(summary, args.out / "summary.json")
    return summary


if __name__ == "__main__":
    main()
