"""ATMC-joint vs post-hoc compression at equal bytes on disk (issue 22; ATMC: Gui et al. 2019,
"Model Compression with Adversarial Robustness: A Unified Optimization Framework", NeurIPS).

Every row starts from the same dense phase (the base config's student, objectives, seed and
``train.epochs``), trained once as the dense row and continued by the others (run_distill's
``dense_phase``), and then spends the same number of further epochs with the same objectives,
adversarial ones included; only the compression differs. Rank ratio r, sparsity s and bits b are
the base config's ``compression.atmc``:

  dense                     the dense phase alone, fp32 (reference: what compression costs)
  ATMC-joint                ADMM under joint rank <= r / s zeros per tensor / b-bit grid
                            (admm_epochs), hard projection, quantization-aware training (qat_epochs)
  post-hoc b-bit            low rank at r and global magnitude pruning at s, fine-tuned for
                            admm_epochs + qat_epochs, then post-training quantization to b bits
  post-hoc int8 @ bytes     the same at rank r with 8-bit post-training quantization and the
                            sparsity s8 whose packed 8-bit weights take ATMC's bytes (planned from
                            ATMC's tensor shapes before training it; both byte counts are printed)

Every compressed model is stored packed (fedrobust.models.packed: codes, bitmasks, one scale per
tensor) and evaluated as loaded from disk; ``bytes`` is its weights file. The numbers are the final
evaluation on test: natural accuracy on the public test split (Wilson interval) and on the devices'
pooled test texts, and accuracy under two attack families at one word budget (fast_deepwordbug:
character edits; fast_pwws: word substitution; 10% of words) on the same seeded sample of public
test texts, with Wilson intervals; ``top_class_share`` and ``constant`` flag a model that predicts
(almost) one class, whose accuracy under attack means nothing. ATMC is paired with every other row on the same texts: the
margin with a bootstrap interval and McNemar's exact test ("no difference detected" when the
interval covers 0). One seed per run; repeat with --seed 1, 2 for a claim.

    fedrobust data prepare --source rotten_tomatoes --partition natural --min-samples 10 --out /tmp/rt
    fedrobust teacher --data /tmp/rt --out /tmp/teacher_rt --epochs 3 --augment-copies 12
    python simulations/atmc_study.py --data /tmp/rt --teacher /tmp/teacher_rt --out runs/atmc_study
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from fedrobust.attacks.records import FAILED
from fedrobust.config_schema import parse_overrides
from fedrobust.data import FederatedDataset
from fedrobust.distill import config_from_mapping, load_config, run_distill
from fedrobust.distill.compression.post_hoc import quantize_after_training
from fedrobust.distill.compression.projection import constrained_names
from fedrobust.distill.measure import size_bytes
from fedrobust.distill.pipeline import STUDENT_DIR
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.evaluation import AttackEvalConfig, ThreatModel, accuracy, evaluate_threats, predict, write_records_csv
from fedrobust.evaluation.confidence import bootstrap_mean_interval, mcnemar_exact_p, wilson_interval
from fedrobust.evaluation.measure import prediction_profile
from fedrobust.models import load_model, save_model
from fedrobust.models.io import FP32_WEIGHTS, PACKED_WEIGHTS
from fedrobust.models.packed import grid_bytes

log = logging.getLogger("atmc_study")
ROOT = Path(__file__).resolve().parents[1]
ATTACKS = ("fast_deepwordbug", "fast_pwws")
PACKED_DIR = "student_packed"  # a post-hoc student after post-training quantization
# row key -> label template; every row but dense is compared with ATMC
ROWS = {"dense": "dense fp32", "atmc": "ATMC-joint r={r:g} s={s:g} {b}-bit",
        "post_hoc_bits": "post-hoc r={r:g} s={s:g} {b}-bit PTQ", "post_hoc_int8": "post-hoc r={r:g} s={s8:.3f} int8 @ATMC bytes"}


def int8_sparsity_at_bytes(shapes: list[tuple[int, ...]], bits: int, sparsity: float) -> float:
    """The sparsity whose 8-bit packed tensors of ``shapes`` take the bytes of ``bits``-bit ones at
    ``sparsity`` (bisection on fedrobust.models.packed.grid_bytes, which falls as sparsity grows)."""
    target = sum(grid_bytes(shape, bits, sparsity) for shape in shapes)
    low, high = 0.0, 0.99
    if sum(grid_bytes(shape, 8, low) for shape in shapes) <= target:
        return low
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if sum(grid_bytes(shape, 8, middle) for shape in shapes) <= target else (middle, high)
    return high


def row_mapping(base: dict[str, Any], key: str, s8: float | None = None) -> dict[str, Any]:
    """The distill config of one row: the base with its compression section replaced."""
    atmc = base["compression"]["atmc"]
    finetune = atmc["admm_epochs"] + atmc["qat_epochs"]  # the same budget after the dense phase
    compression = {
        "dense": {"int8": False},
        "atmc": {**base["compression"], "int8": False},
        "post_hoc_bits": {"low_rank_ratio": atmc["rank_ratio"], "prune_sparsity": atmc["sparsity"],
                          "finetune_epochs": finetune, "int8": False},
        "post_hoc_int8": {"low_rank_ratio": atmc["rank_ratio"], "prune_sparsity": s8, "finetune_epochs": finetune,
                          "int8": False},
    }[key]
    return {**base, "compression": compression}


def train_row(base: dict[str, Any], key: str, run_dir: Path, resume: bool, s8: float | None = None,
              dense: Path | None = None) -> dict[str, Any]:
    """One row's distill run; with ``dense`` (the dense row's folder) it continues from that row's
    student instead of training the same dense phase again (run_distill's dense_phase)."""
    if resume and (run_dir / "metrics.json").is_file():
        return json.loads((run_dir / "metrics.json").read_text())
    log.info("training %s%s", key, f" from the dense phase in {dense}" if dense else "")
    return run_distill(config_from_mapping(row_mapping(base, key, s8)), run_dir, dense_phase=dense)


def deployed(run_dir: Path, key: str, bits: int, resume: bool) -> tuple[Path, Path]:
    """The folder a row is evaluated from and its weights file; post-hoc rows are quantized to
    ``bits`` after training and saved packed here."""
    if key == "dense":
        return run_dir / STUDENT_DIR, run_dir / STUDENT_DIR / FP32_WEIGHTS
    if key == "atmc":
        return run_dir / STUDENT_DIR, run_dir / STUDENT_DIR / PACKED_WEIGHTS
    folder = run_dir / PACKED_DIR
    if not (resume and (folder / PACKED_WEIGHTS).is_file()):
        model, tokenizer = load_model(run_dir / STUDENT_DIR)
        meta = json.loads((run_dir / STUDENT_DIR / "model.json").read_text())
        quantize_after_training(model, bits)
        save_model(model, tokenizer, folder, extra_config={"distill_config": meta.get("distill_config"),
                                                           "post_training_bits": bits}, weights="packed", bits=bits)
    return folder, folder / PACKED_WEIGHTS


def zero_share(model: torch.nn.Module) -> float:
    names = constrained_names(model)
    total = sum(model.get_parameter(n).numel() for n in names)
    return sum(int((model.get_parameter(n) == 0).sum()) for n in names) / total if total else 0.0


def paired(a_ok: list[bool], b_ok: list[bool], seed: int) -> dict[str, Any]:
    """A minus B on the same examples, in points, with a bootstrap interval and McNemar's exact test."""
    n = len(a_ok)
    only_a = sum(a and not b for a, b in zip(a_ok, b_ok))
    only_b = sum(b and not a for a, b in zip(a_ok, b_ok))
    low, high = bootstrap_mean_interval([float(a) - float(b) for a, b in zip(a_ok, b_ok)], seed=seed)
    return {"examples": n, "margin_points": 100.0 * (sum(a_ok) - sum(b_ok)) / n if n else float("nan"),
            "margin_ci95_points": [100.0 * low, 100.0 * high], "detected": bool(low > 0 or high < 0),
            "only_atmc_right": only_a, "only_other_right": only_b, "mcnemar_exact_p": mcnemar_exact_p(only_a, only_b)}


def interval(value: float, ci: list[float] | tuple[float, float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "distill_atmc.yaml",
                        help="distill config with compression.method: atmc; the rows derive from it")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of --config, e.g. --set compression.atmc.bits=3")
    parser.add_argument("--data", type=Path, default=Path("/tmp/rt"))
    parser.add_argument("--teacher", type=Path, default=Path("/tmp/teacher_rt"), help="made here if missing")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "atmc_study")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--augment-copies", type=int, default=12, help="teacher-labelled copies per public text")
    parser.add_argument("--attacks", nargs="+", default=list(ATTACKS))
    parser.add_argument("--word-budget", type=float, default=0.1, help="fraction of a text's words an attack may modify")
    parser.add_argument("--max-queries", type=int, default=2000, help="model queries per attacked text")
    parser.add_argument("--attack-examples", type=int, default=200, help="seeded sample of the public test split")
    parser.add_argument("--resume", action="store_true", help="reuse rows whose metrics.json exists")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the evaluation")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    overrides = {**parse_overrides(args.overrides), "data": str(args.data), "teacher": str(args.teacher), "seed": args.seed}
    config = load_config(args.config, overrides)  # fails here, before any work, on a bad key
    if config.compression.method != "atmc":
        raise SystemExit(f"{args.config}: compression.method is {config.compression.method!r}; the study needs atmc "
                         "(its compression.atmc settings define every row)")
    if "post_hoc_int8" in args.rows and "atmc" not in args.rows:
        raise SystemExit("--rows post_hoc_int8 matches ATMC's bytes: add atmc")
    settings = AttackEvalConfig(attacks=[ThreatModel(a, word_budgets=[args.word_budget], max_queries=args.max_queries)
                                         for a in args.attacks], examples=args.attack_examples)
    settings.validate("--attacks")
    atmc = config.compression.atmc
    base = config.to_dict()
    args.out.mkdir(parents=True, exist_ok=True)
    if not (args.teacher / "metrics.json").exists():
        run_teacher(args.data, args.teacher, TeacherConfig(epochs=args.teacher_epochs, augment_copies=args.augment_copies,
                                                           seed=args.seed))

    dataset = FederatedDataset.load(args.data)
    public = dataset.public()
    texts, labels = list(public.test_texts), list(public.test_labels)
    client_texts = [t for i in range(len(dataset)) for t in dataset.client(i).test_texts]
    client_labels = [y for i in range(len(dataset)) for y in dataset.client(i).test_labels]

    table, outcomes, bytes_of, s8 = [], {}, {}, None
    for key in [k for k in ROWS if k in args.rows]:  # ATMC before post_hoc_int8: its bytes set s8
        run_dir = args.out / key
        dense = args.out / "dense" if key != "dense" and "dense" in args.rows else None
        metrics = train_row(base, key, run_dir, args.resume, s8, dense)
        folder, weights = deployed(run_dir, key, 8 if key == "post_hoc_int8" else atmc.bits, args.resume)
        model, tokenizer = load_model(folder)
        if key == "atmc":
            shapes = [tuple(model.get_parameter(n).shape) for n in constrained_names(model)]
            s8 = int8_sparsity_at_bytes(shapes, atmc.bits, atmc.sparsity)
        bytes_of[key] = size_bytes(weights)
        predictions = predict(model, tokenizer, texts)
        correct = (predictions == torch.tensor(labels)).tolist()
        threats = evaluate_threats(model, tokenizer, texts, labels, settings, args.seed)
        for label, (records, _) in threats.items():
            write_records_csv((r.to_dict() for r in records), args.out / "attacks" / f"{key}_{label}.csv")
        outcomes[key] = {"natural": correct, **{label: [r.result == FAILED for r in records]
                                               for label, (records, _) in threats.items()}}
        row = {"row": ROWS[key].format(r=atmc.rank_ratio, s=atmc.sparsity, b=atmc.bits, s8=s8 or 0.0),
               "params": model.num_parameters(), "zero_share": round(zero_share(model), 4),
               "bytes": bytes_of[key], "natural_acc": interval(sum(correct) / len(correct),
                                                                 wilson_interval(sum(correct), len(correct))),
               "natural_acc_clients": round(accuracy(model, tokenizer, client_texts, client_labels), 4),
               # a (near-)constant model cannot be flipped: its accuracy under attack says nothing
               **{k: round(v, 4) for k, v in prediction_profile(predictions).items()},
               "low_rank": json.dumps(metrics["student"].get("low_rank", {}))}
        for label, (_, summary) in threats.items():
            row[f"adversarial_acc[{label}]"] = interval(summary["adversarial_acc"], summary["adversarial_acc_ci95"])
            row[f"attack_success_rate[{label}]"] = interval(summary["attack_success_rate"],
                                                             summary["attack_success_rate_ci95"])
        table.append(row)
        log.info("%s: %d bytes, %s", row["row"], row["bytes"], row["natural_acc"])

    comparisons = {key: {measure: paired(outcomes["atmc"][measure], outcomes[key][measure], args.seed)
                         for measure in outcomes[key]}
                   for key in outcomes if key != "atmc" and "atmc" in outcomes}
    for row, key in zip(table, outcomes):
        if "atmc" in bytes_of:
            row["bytes_vs_atmc"] = round(bytes_of[key] / bytes_of["atmc"], 3)
    summary = {
        "config": str(args.config), "overrides": args.overrides, "seed": args.seed,
        "atmc": {"rank_ratio": atmc.rank_ratio, "sparsity": atmc.sparsity, "bits": atmc.bits},
        "post_hoc_int8_sparsity": s8, "bytes": bytes_of,
        "threats": settings.labels(), "attack_examples": args.attack_examples, "test_examples": len(texts),
        "client_test_examples": len(client_texts), "atmc_minus_other": comparisons,
        "seconds": time.perf_counter() - started,
    }
    with open(args.out / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(c for row in table for c in row)))
        writer.writeheader()
        writer.writerows(table)
    (args.out / "table.md").write_text(markdown(table) + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(markdown(table))
    print(json.dumps({k: summary[k] for k in ("bytes", "post_hoc_int8_sparsity", "atmc_minus_other")}, indent=2))
    return summary


if __name__ == "__main__":
    main()
