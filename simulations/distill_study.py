"""Robust explainable distillation study (issue 3): teacher vs compact students on rotten_tomatoes.

Rows (one training run each, same data, seed and schedule; only the named part changes):
  teacher                         all-MiniLM-L6-v2 fine-tuned on the public split
  <student> CE                    cross-entropy only, gold labels only (no teacher-labelled copies)
  <student> KD                    CE + knowledge distillation (Hinton et al.)
  <student> KD+FM                 + explainable feature mapping (InfoNCE representations,
                                    attribution alignment with the teacher's cached attributions:
                                    gradient x input, or integrated gradients for a teacher cached
                                    with `fedrobust teacher --attribution integrated_gradients`;
                                    column teacher_attribution)
  <student> full                  + adversarial objectives (embedding PGD, GradMASK,
                                    discrete DeepWordBug examples)
  <student> full + int8           the full student's int8 artifact
  FastGRNN / PRADO CE and full    the paper's compact baselines, same objectives
The rows' settings come from the base config (``--config``), whose choices are made on validation
texts (simulations/distill_selection.py writes such a config); every number in the table is the
final evaluation on test: natural accuracy on the public test split and on the devices' pooled test
texts, and accuracy under two attack families at the same word budget (fast_deepwordbug: character
edits; fast_pwws: word substitution; 10% of words) on the same seeded sample of public test texts.
Accuracy under attack is the share of examples whose prediction is correct and stays correct. The
summary gives the full student's margin over the KD-only student under each attack (paired on the
same texts: McNemar's exact test and a bootstrap interval of the margin) and its gap to the teacher.

Explanations, on a seeded sample of the same public test texts (``--explain-examples``), also final
evaluation only: each student's agreement with the teacher's token attributions (for the gold label,
by ``--attribution``: gradient x input by default, or integrated gradients, one method for the teacher
and every student; mean Spearman of their magnitudes and top-k overlap, 95% bootstrap intervals over
texts: ``expl_spearman``, ``expl_top5``), and for every model, the teacher included, the faithfulness
of its own attributions (fedrobust.evaluation.faithfulness: the original class's probability as the
top-attributed tokens are deleted, or alone inserted, in steps of 10% of the tokens, against a seeded
random order; ``deletion_auc_diff`` is attributed minus random, paired over texts, negative when
faithful; ``insertion_auc_diff`` positive when faithful). The summary pairs KD+FM and full with KD-only
on the same texts (does attribution alignment change the agreement?); explanations.md shows the table.

    fedrobust data prepare --source rotten_tomatoes --partition natural --min-samples 10 --out /tmp/rt
    python simulations/distill_selection.py --data /tmp/rt --teacher /tmp/teacher_rt --out runs/distill_selection
    python simulations/distill_study.py --data /tmp/rt --teacher /tmp/teacher_rt \
        --config runs/distill_selection/selected.yaml --reuse runs/distill_selection/candidates --out runs/distill_study

(``--reuse``: a row whose exact config the selection already trained is copied, not trained again.)

The teacher folder is made first when missing: 3 epochs of fine-tuning, then its outputs (and
its contextual token table) are cached on the public texts and 12 augmented copies of each
(`fedrobust teacher --augment-copies 12`; `--transfer` adds unlabelled corpora).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import multiprocessing
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

from fedrobust.distill import config_from_mapping, run_distill
from fedrobust.distill.pipeline import STUDENT_DIR, STUDENT_INT8_DIR, is_finished_run
from fedrobust.distill.measure import accuracy
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.evaluation import ThreatModel, evaluate_attack, write_records_csv, write_summary_json
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, attribute, attribution_methods
from fedrobust.evaluation.config import threat_label
from fedrobust.evaluation.confidence import bootstrap_mean_interval, mcnemar_exact_p
from fedrobust.evaluation.explanations import measure_explanations, paired_over_texts, table_columns
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, threat_metric
from fedrobust.evaluation.sampling import sample_indices
from fedrobust.models import load_model
from fedrobust.seeding import check_parallel_training

log = logging.getLogger("distill_study")
ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "distill_full.yaml"

ATTACKS = ("fast_deepwordbug", "fast_pwws")  # a character and a word-substitution family

CE = ["ce"]
KD = ["ce", "kd"]
KD_FM = KD + ["representation_infonce", "attribution_alignment"]
FULL = KD_FM + ["embedding_pgd", "gradmask", "discrete_adversarial"]

# The project's student ("bigru") is the base config's `student:`; the baselines are fixed here.
STUDENTS = {
    "fastgrnn": {"name": "fastgrnn", "embedding": {"kind": "factorized", "dim": 64, "rank": 32}, "hidden": 64},
    "prado": {"name": "prado", "projection_dim": 128, "dim": 64, "channels": 64},
}

# (row label, student key, objectives)
ROWS = [
    ("student CE", "bigru", CE),
    ("student KD", "bigru", KD),
    ("student KD+FM", "bigru", KD_FM),
    ("student full", "bigru", FULL),
    ("FastGRNN CE", "fastgrnn", CE),
    ("FastGRNN full", "fastgrnn", FULL),
    ("PRADO CE", "prado", CE),
    ("PRADO full", "prado", FULL),
]


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def row_config(base: dict[str, Any], student: str, objectives: list[str], args: argparse.Namespace) -> dict[str, Any]:
    config = copy.deepcopy(base)
    config.update(data=str(args.data), teacher=str(args.teacher), seed=args.seed)
    config["student"] = copy.deepcopy(base["student"] if student == "bigru" else STUDENTS[student])
    config["objectives"] = {name: base["objectives"][name] for name in objectives}
    if "kd" not in objectives:  # CE only: gold labels only, nothing from the teacher but the init
        config["train"]["use_augmented"] = False
        config["train"]["use_transfer"] = False
    if args.epochs is not None:
        config["train"]["epochs"] = args.epochs
    config["compression"] = {"prune_sparsity": 0.0, "low_rank_ratio": 0.0, "int8": True}
    return config


def needs_training(run_dir: Path, mapping: dict[str, Any], resume: bool) -> bool:
    """False only with ``resume`` and a finished run of this very config in ``run_dir``."""
    if not resume or not (run_dir / "metrics.json").is_file():
        return True
    if is_finished_run(run_dir, config_from_mapping(mapping)):
        return False
    log.info("%s was trained with another config: training it again", run_dir)
    return True


def finished_run_of(mapping: dict[str, Any], folders: list[Path]) -> Path | None:
    """A finished distill run of exactly this config under one of ``folders`` (e.g. the candidates of
    simulations/distill_selection.py, which trained the selected config already), else None."""
    config = config_from_mapping(mapping)
    for folder in folders:
        for stored in sorted(folder.glob("**/config.yaml")):
            if is_finished_run(stored.parent, config):
                return stored.parent
    return None


def train_row(mapping: dict[str, Any], run_dir: Path) -> None:
    """One row's distill run (with its config's ``train.threads``), in a worker process of ``--jobs``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run_distill(config_from_mapping(mapping), run_dir)


def train_rows_at_once(plans: dict[str, tuple[dict[str, Any], Path]], jobs: int) -> None:
    """Train the planned rows, ``jobs`` at once (spawned processes), the most passes over the texts
    first; refused when jobs x train.threads exceeds the cores."""
    def cost(label: str) -> float:
        train = plans[label][0]["train"]
        copies = (train.get("max_augmented_copies") or 0) if train.get("use_augmented", True) else 0
        adversarial = sum(1 for name in ("embedding_pgd", "gradmask", "discrete_adversarial") if name in plans[label][0]["objectives"])
        return train["epochs"] * (1 + copies) * (1 + adversarial)

    check_parallel_training(jobs, max(config_from_mapping(mapping).train.threads for mapping, _ in plans.values()))
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(train_row, *plans[label]) for label in sorted(plans, key=cost, reverse=True)]
        for future in futures:
            future.result()


def threats(args: argparse.Namespace) -> list[ThreatModel]:
    return [ThreatModel(attack, word_budgets=[args.word_budget], max_queries=args.max_queries) for attack in args.attacks]


def attack_row(model_dir: Path, texts: list[str], labels: list[int], threat: ThreatModel, args: argparse.Namespace
               ) -> tuple[dict, list]:
    model, tokenizer = load_model(model_dir)
    budget = threat.budgets[0]
    records, summary = evaluate_attack(
        model, tokenizer, texts, labels, attack=threat.attack, examples=args.attack_examples,
        max_queries=threat.max_queries, seed=args.seed, **threat.options(budget),
    )
    return summary, records


def table_row(
    label: str, model: dict[str, Any], teacher_params: int, natural_acc: float, clients_acc: float,
    attacks: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """``natural_acc`` and ``natural_acc_clients``: test; ``val_natural_acc``: the distill run's own
    validation figure (empty for the teacher); attacks: threat label -> summary, the first primary."""
    val = model.get("val_natural_acc")
    row = {
        "row": label,
        "params": model["params"],
        "param_ratio": round(model["params"] / teacher_params, 4),
        "bytes_fp32": model["bytes_fp32"],
        "bytes_int8": model["bytes_int8"],
        "natural_acc": round(natural_acc, 4),
        "natural_acc_clients": round(clients_acc, 4),
        "val_natural_acc": round(val, 4) if val is not None else "",
        "latency_ms": round(model["latency_ms"], 3),
    }
    if attacks:
        primary = next(iter(attacks.values()))
        row["natural_acc_attacked"] = round(primary["natural_acc"], 4)
        row["adversarial_acc"] = round(primary["adversarial_acc"], 4)
        row["attack_success_rate"] = round(primary["attack_success_rate"], 4)
        row["n_attacked"] = primary["n_attacked"]
        for threat, summary in attacks.items():
            row[threat_metric(ADVERSARIAL_ACC, threat)] = round(summary["adversarial_acc"], 4)
    return row


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _interval(row: dict[str, Any], column: str) -> str:
    if row.get(column, "") == "":
        return "–"
    return f"{row[column]:.3f} [{row[column + '_ci95_low']:.3f}, {row[column + '_ci95_high']:.3f}]"


def explanation_markdown(table: list[dict[str, Any]], k: int) -> str:
    """The explanation columns of the table, each figure with its 95% interval."""
    rows = [{"row": r["row"], "alignment reads": r.get("teacher_attribution", ""),
             "ρ with teacher": _interval(r, "expl_spearman"),
             f"top-{k} overlap": _interval(r, f"expl_top{k}"),
             "deletion AUC (attributed / random)": f"{r['deletion_auc']:.3f} / {r['deletion_auc_random']:.3f}",
             "deletion attributed − random": _interval(r, "deletion_auc_diff"),
             "insertion AUC (attributed / random)": f"{r['insertion_auc']:.3f} / {r['insertion_auc_random']:.3f}",
             "insertion attributed − random": _interval(r, "insertion_auc_diff")}
            for r in table if "deletion_auc" in r]
    return markdown(rows) if rows else ""


def paired_margin(full: list, kd: list, seed: int = 0) -> dict[str, Any]:
    """Same examples, same order: who survives the attack where the other does not. The margin's
    95% interval is a percentile bootstrap over the paired examples (in points)."""
    survives = [[r.result == "failed" for r in records] for records in (full, kd)]
    n = len(full)
    only_full = sum(a and not b for a, b in zip(*survives))
    only_kd = sum(b and not a for a, b in zip(*survives))
    low, high = bootstrap_mean_interval([float(a) - float(b) for a, b in zip(*survives)], seed=seed)
    return {
        "examples": n,
        "full_adversarial_acc": sum(survives[0]) / n,
        "kd_adversarial_acc": sum(survives[1]) / n,
        "margin_points": 100.0 * (sum(survives[0]) - sum(survives[1])) / n,
        "margin_ci95_points": [100.0 * low, 100.0 * high],
        "detected": bool(low > 0 or high < 0),  # False: no difference detected
        "only_full_survives": only_full,
        "only_kd_survives": only_kd,
        "mcnemar_exact_p": mcnemar_exact_p(only_full, only_kd),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=BASE_CONFIG, help="base distill config the rows derive from")
    parser.add_argument("--data", type=Path, default=Path("/tmp/rt"))
    parser.add_argument("--teacher", type=Path, default=Path("/tmp/teacher_rt"), help="made here if missing")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "distill_study")
    parser.add_argument("--epochs", type=int, default=None, help="default: the base config's train.epochs")
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--augment-copies", type=int, default=12, help="teacher-labelled copies per public text")
    parser.add_argument("--transfer", nargs="*", default=[],
                        help="unlabelled corpora the teacher labels for distillation (see `fedrobust teacher --help`)")
    parser.add_argument("--transfer-max-texts", type=int, default=None, help="per transfer corpus")
    parser.add_argument("--attacks", nargs="+", default=list(ATTACKS),
                        help="fedrobust.attacks names, the first primary (fast_deepwordbug: TextAttack's "
                             "DeepWordBugGao2018, batched; fast_pwws: PWWS word substitution)")
    parser.add_argument("--word-budget", type=float, default=0.1, help="fraction of a text's words an attack may modify")
    parser.add_argument("--attack-examples", type=int, default=200, help="seeded sample of the public test split")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--rows", nargs="*", default=None, help="subset of row labels (default: all)")
    parser.add_argument("--skip-attack", action="store_true")
    parser.add_argument("--explain-examples", type=int, default=500,
                        help="seeded sample of the public test split for explanation agreement and faithfulness")
    parser.add_argument("--top-k", type=int, default=5, help="explanation agreement: overlap of the k most important tokens")
    parser.add_argument("--attribution", choices=attribution_methods(), default=DEFAULT_ATTRIBUTION,
                        help="token attributions of the teacher and every student, for agreement and faithfulness "
                             "(integrated_gradients: 32 steps from a [PAD] baseline)")
    parser.add_argument("--skip-explain", action="store_true")
    parser.add_argument("--resume", action="store_true", help="reuse rows trained with the same config")
    parser.add_argument("--reuse", type=Path, nargs="*", default=[], metavar="DIR",
                        help="copy a row's finished distill run of the same config from under these folders "
                             "(e.g. runs/distill_selection/candidates) instead of training it")
    parser.add_argument("--jobs", type=int, default=1,
                        help="rows trained at once, each in its own process (jobs x train.threads must fit the cores; "
                             "evaluation stays in one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (latency is measured with these)")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        parser.error("--jobs and --threads must be at least 1")
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)

    if not (args.teacher / "metrics.json").exists():
        options = TeacherConfig(epochs=args.teacher_epochs, augment_copies=args.augment_copies, transfer=args.transfer,
                                transfer_max_texts=args.transfer_max_texts, seed=args.seed)
        run_teacher(args.data, args.teacher, options)
    teacher_metrics = json.loads((args.teacher / "metrics.json").read_text())["teacher"]

    from fedrobust.data import FederatedDataset

    dataset = FederatedDataset.load(args.data)
    public = dataset.public()
    texts, labels = list(public.test_texts), list(public.test_labels)
    # The devices' pooled test splits: a 5x larger sample of the same reviews for natural accuracy.
    client_texts = [t for i in range(len(dataset)) for t in dataset.client(i).test_texts]
    client_labels = [y for i in range(len(dataset)) for y in dataset.client(i).test_labels]

    def test_accuracies(model_dir: Path) -> tuple[float, float]:
        """Natural accuracy on the public test split and on the devices' pooled test texts."""
        model, tokenizer = load_model(model_dir)
        return accuracy(model, tokenizer, texts, labels), accuracy(model, tokenizer, client_texts, client_labels)

    # the same seeded sample for every model, so that models are compared text by text
    explain_rows = [] if args.skip_explain else sample_indices(len(texts), args.explain_examples, args.seed)
    explain_texts, explain_labels = [texts[i] for i in explain_rows], [labels[i] for i in explain_rows]
    explanations: dict[str, dict[str, Any]] = {}
    teacher_attributions = None
    if explain_rows:  # the teacher explains each text once; every student is compared with it
        teacher_model, teacher_tokenizer = load_model(args.teacher / "model")
        teacher_attributions = attribute(teacher_model, teacher_tokenizer, explain_texts, explain_labels,
                                         method=args.attribution)
        del teacher_model

    def explained(label: str, model_dir: Path, compare: bool = True) -> dict[str, Any]:
        """The row's explanation columns (agreement with the teacher only for students)."""
        if not explain_rows:
            return {}
        model, tokenizer = load_model(model_dir)
        log.info("explaining %s on %d test texts", label, len(explain_texts))
        measured = explanations[label] = measure_explanations(
            model, tokenizer, explain_texts, explain_labels, reference=teacher_attributions if compare else None,
            k=args.top_k, seed=args.seed, attribution=args.attribution)
        for kind in ("agreement", "faithfulness"):
            if f"{kind}_rows" in measured:
                write_records_csv(measured[f"{kind}_rows"], args.out / "explanations" / f"{slug(label)}_{kind}.csv")
        return table_columns(measured)

    base = yaml.safe_load(args.config.read_text())
    results: dict[str, Any] = {}
    attacks: dict[str, dict[str, tuple[dict, list]]] = {}  # row -> threat label -> (summary, records)

    def attacked(label: str, model_dir: Path) -> dict[str, dict] | None:
        if args.skip_attack:
            return None
        attacks[label] = {}
        for threat in threats(args):
            name = threat_label(threat.attack, threat.budgets[0])
            log.info("attacking %s with %s", label, name)
            summary, records = attacks[label][name] = attack_row(model_dir, texts, labels, threat, args)
            attack_dir = args.out / "attacks"
            write_summary_json(summary, attack_dir / f"{slug(label)}_{slug(name)}.json")
            write_records_csv((r.to_dict() for r in records), attack_dir / f"{slug(label)}_{slug(name)}.csv")
            log.info("%s: natural %.4f, under %s %.4f", label, summary["natural_acc"], name, summary["adversarial_acc"])
        return {name: summary for name, (summary, _) in attacks[label].items()}

    planned = [(label, row_config(base, student, objectives, args)) for label, student, objectives in ROWS
               if not args.rows or label in args.rows]
    to_train = {label: (mapping, args.out / slug(label)) for label, mapping in planned
                if needs_training(args.out / slug(label), mapping, args.resume)}
    for label in list(to_train):
        found = finished_run_of(to_train[label][0], args.reuse)
        if found is not None:
            log.info("%s: reusing %s (the same config, already trained)", label, found)
            shutil.rmtree(args.out / slug(label), ignore_errors=True)
            shutil.copytree(found, args.out / slug(label))
            del to_train[label]
    if args.jobs > 1 and len(to_train) > 1:
        log.info("training %d rows, %d at once: %s", len(to_train), args.jobs, ", ".join(to_train))
        train_rows_at_once(to_train, args.jobs)
        to_train = {}
    teacher_acc, teacher_clients_acc = test_accuracies(args.teacher / "model")
    table = [table_row("teacher", teacher_metrics, teacher_metrics["params"], teacher_acc, teacher_clients_acc,
                       attacked("teacher", args.teacher / "model"))]
    table[-1].update(explained("teacher", args.teacher / "model", compare=False))
    for label, mapping in planned:
        run_dir = args.out / slug(label)
        if label in to_train:
            log.info("training %s", label)
            metrics = run_distill(config_from_mapping(mapping), run_dir)
        else:
            metrics = json.loads((run_dir / "metrics.json").read_text())
        results[label] = metrics
        s = metrics["student"]
        natural, clients_acc = test_accuracies(run_dir / STUDENT_DIR)
        results[label].update(natural_acc=natural, natural_acc_clients=clients_acc)
        table.append(table_row(label, s, teacher_metrics["params"], natural, clients_acc,
                               attacked(label, run_dir / STUDENT_DIR)))
        # what attribution alignment and GradMASK read (the teacher's cache: fedrobust teacher --attribution)
        table[-1]["teacher_attribution"] = metrics.get("teacher_attribution", "grad_x_input")
        table[-1].update(explained(label, run_dir / STUDENT_DIR))
        if label == "student full":
            int8 = {**s, "val_natural_acc": s.get("val_natural_acc_int8")}
            table.append(table_row("student full + int8", int8, teacher_metrics["params"],
                                   *test_accuracies(run_dir / STUDENT_INT8_DIR),
                                   attacked("student full + int8", run_dir / STUDENT_INT8_DIR)))
            table[-1]["teacher_attribution"] = table[-2]["teacher_attribution"]
            table[-1].update(explained("student full + int8", run_dir / STUDENT_INT8_DIR))

    summary: dict[str, Any] = {
        "config": str(args.config),
        "attacks": [threat_label(t.attack, t.budgets[0]) for t in threats(args)],
        "test_examples": len(texts),
        "epochs": args.epochs or base["train"]["epochs"],
        "seed": args.seed,
        "threads": args.threads,
        "seconds": time.perf_counter() - started,
        "teacher_natural_acc": teacher_acc,
    }
    if "student full" in results:
        full = results["student full"]
        summary["full_param_ratio"] = full["student"]["params"] / teacher_metrics["params"]
        summary["full_natural_acc"] = full["natural_acc"]
        summary["full_natural_gap_points"] = 100.0 * (teacher_acc - full["natural_acc"])
        summary["full_natural_gap_points_clients"] = 100.0 * (teacher_clients_acc - full["natural_acc_clients"])
        summary["client_test_examples"] = len(client_texts)
    if "student full" in attacks and "student KD" in attacks:
        margins = {name: paired_margin(attacks["student full"][name][1], attacks["student KD"][name][1], args.seed)
                   for name in attacks["student full"]}
        summary["full_vs_kd_margins"] = margins
        summary["full_vs_kd_under_attack"] = next(iter(margins.values()))  # the primary threat's

    if explanations:
        k = args.top_k
        summary["explanations"] = {
            "texts": len(explain_texts), "k": k, "seed": args.seed, "attribution": args.attribution,
            "rows": {label: {kind: m[kind] for kind in ("agreement", "faithfulness") if kind in m}
                     for label, m in explanations.items()},
            # does feature mapping (attribution alignment) change the agreement? same texts, paired
            "vs_kd": {label: {key: paired_over_texts(explanations[label]["agreement_rows"],
                                                     explanations["student KD"]["agreement_rows"], key, args.seed)
                              for key in ("spearman", f"top{k}_overlap")}
                      for label in ("student KD+FM", "student full")
                      if label in explanations and "student KD" in explanations},
        }
        (args.out / "explanations.md").write_text(f"Token attributions: {args.attribution}\n\n"
                                                  + explanation_markdown(table, k) + "\n")

    with open(args.out / "table.csv", "w", newline="") as handle:
        columns = list(dict.fromkeys(c for row in table for c in row))
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    (args.out / "table.md").write_text(markdown(table) + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(markdown(table))
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
