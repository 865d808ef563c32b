"""Re-derive the choices of configs/distill_full.yaml on validation texts (selection discipline).

The choices, each an axis of candidate settings applied to the base config:
  schedule        train.epochs 4 with the adversarial objectives from epoch 3 | 8 from epoch 5
  copies          train.max_augmented_copies 0 | 4 | 12 (teacher-labelled copies per text)
  confidence      objectives.discrete_adversarial.min_teacher_confidence 0 | 0.8
  teacher_table   vocabulary.teacher_table contextual | input
Design ``one-at-a-time`` (default): the base config, and each option of each axis applied to the
base alone; ``grid``: every combination. Each candidate is one `run_distill` into
OUT/candidates/<label>/ (a finished candidate with the same config and scoring is reused).

Every candidate is scored on the public validation texts only (the distill run's held-out share
of the public train split, ``train.validation_fraction``): natural accuracy on all of them, and
accuracy under fast_deepwordbug at 10% of words on a seeded sample (``--attack-examples``).

Selection rule (``select``): among the candidates whose validation natural accuracy is within
``--tolerance`` (1 point) of the best, the highest validation accuracy under attack; ties go to the
higher natural accuracy, then to the base's setting, then to the listed order. One-at-a-time applies
the rule per axis (the base and that axis's options) and combines the winners; the combination is
not itself scored (use ``--design grid`` for that). Everything runs inside a record of test-data
reads, and the script fails before writing a selection if any test text was read.

Writes OUT/selection.csv, OUT/selection.md and OUT/selected.yaml (the selected config, for
``simulations/distill_study.py --config``).

    python simulations/distill_selection.py --data /tmp/rt --teacher /tmp/teacher_rt --out runs/distill_selection
    python simulations/distill_selection.py ... --epochs-scale 0.25 --set objectives.discrete_adversarial.pool_size=200
    python simulations/distill_selection.py ... --jobs 2   # two candidates at once (needs 2 x train.threads cores)
"""

from __future__ import annotations

import argparse
import copy
import csv
import itertools
import json
import logging
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
import yaml

from fedrobust.config_schema import parse_overrides, set_dotted
from fedrobust.data.reads_of_test_texts import assert_no_test_reads, record_test_reads
from fedrobust.distill import config_from_mapping, run_distill
from fedrobust.distill.config import load_config
from fedrobust.distill.pipeline import STUDENT_DIR, is_finished_run, load_inputs
from fedrobust.evaluation import ThreatModel, accuracy, evaluate_attack
from fedrobust.models import load_model
from fedrobust.seeding import check_parallel_training

log = logging.getLogger("distill_selection")
ROOT = Path(__file__).resolve().parents[1]
BASE_CONFIG = ROOT / "configs" / "distill_full.yaml"
ADVERSARIAL = ("embedding_pgd", "gradmask", "discrete_adversarial")  # the objectives the schedule starts late
SCORES_FILE = "selection_scores.json"


def schedule(epochs: int, start: int) -> dict[str, Any]:
    return {"train.epochs": epochs, **{f"objectives.{name}.start_epoch": start for name in ADVERSARIAL}}


# axis -> option label -> dotted changes to the base config
AXES: dict[str, dict[str, dict[str, Any]]] = {
    "schedule": {"4ep_adv_from_3": schedule(4, 3), "8ep_adv_from_5": schedule(8, 5)},
    "copies": {f"{n}_copies": {"train.max_augmented_copies": n} for n in (0, 4, 12)},
    "confidence": {f"min_conf_{c:g}": {"objectives.discrete_adversarial.min_teacher_confidence": c} for c in (0.0, 0.8)},
    "teacher_table": {kind: {"vocabulary.teacher_table": kind} for kind in ("contextual", "input")},
}


def apply(base: dict[str, Any], changes: dict[str, Any], epochs_scale: float) -> dict[str, Any]:
    """The base mapping with ``changes`` (objectives the base lacks are left out), epochs scaled."""
    mapping = copy.deepcopy(base)
    for key, value in changes.items():
        parts = key.split(".")
        if parts[0] == "objectives" and parts[1] not in mapping["objectives"]:
            continue
        set_dotted(mapping, key, value)
    if epochs_scale != 1.0:
        epochs = max(1, round(mapping["train"]["epochs"] * epochs_scale))
        mapping["train"]["epochs"] = epochs
        for params in mapping["objectives"].values():
            if params and "start_epoch" in params:
                params["start_epoch"] = min(epochs, max(1, round(params["start_epoch"] * epochs_scale)))
    return mapping


def candidates(base: dict[str, Any], design: str, epochs_scale: float) -> list[dict[str, Any]]:
    """[{"label", "axes", "options": {axis: option}, "is_base", "config"}]; candidates with equal
    configs are one (an option equal to the base's own setting is the base)."""
    reference = apply(base, {}, epochs_scale)
    if design == "grid":
        combos = [dict(zip(AXES, picks)) for picks in itertools.product(*(list(o) for o in AXES.values()))]
        raw = [("grid", combo) for combo in combos]
    else:
        raw = [("base", {})] + [(axis, {axis: option}) for axis, options in AXES.items() for option in options]
    found: list[dict[str, Any]] = []
    for axis, picks in raw:
        changes = {k: v for axis_name, option in picks.items() for k, v in AXES[axis_name][option].items()}
        config = apply(base, changes, epochs_scale)
        same = next((c for c in found if c["config"] == config), None)
        if same is not None:  # e.g. an option equal to the base's own setting: the base itself
            same["axes"].append(axis)
            same["options"].update(picks)
            continue
        label = "base" if not picks else "+".join(f"{a}={o}" for a, o in picks.items())
        found.append({"label": label, "axes": [axis], "options": dict(picks), "is_base": config == reference,
                      "config": config})
    return found


def select(scores: list[dict[str, Any]], tolerance: float = 0.01) -> dict[str, Any]:
    """The documented rule: within ``tolerance`` of the best val_natural_acc, the best
    val_adversarial_acc; ties: higher val_natural_acc, then the base (``is_base``), then list order."""
    best_natural = max(s["val_natural_acc"] for s in scores)
    eligible = [s for s in scores if s["val_natural_acc"] >= best_natural - tolerance - 1e-12]
    order = {id(s): i for i, s in enumerate(scores)}
    return max(eligible, key=lambda s: (s["val_adversarial_acc"], s["val_natural_acc"], bool(s.get("is_base")),
                                        -order[id(s)]))


def score(model_dir: Path, texts: list[str], labels: list[int], threat: ThreatModel, examples: int | None,
          seed: int) -> dict[str, Any]:
    model, tokenizer = load_model(model_dir)
    budget = threat.budgets[0]
    _, attack = evaluate_attack(model, tokenizer, texts, labels, attack=threat.attack, examples=examples,
                                max_queries=threat.max_queries, seed=seed, **threat.options(budget))
    return {"val_natural_acc": accuracy(model, tokenizer, texts, labels), "val_adversarial_acc": attack["adversarial_acc"],
            "val_attacked": attack["n_attacked"], "validation_examples": len(texts)}


def run_candidate(candidate: dict[str, Any], out: Path, validation: tuple[list[str], list[int]],
                  scoring: dict[str, Any], threat: ThreatModel) -> dict[str, Any]:
    """Train (unless finished with this config) and score (unless scored the same way) one candidate."""
    folder = out / "candidates" / candidate["label"].replace("=", "-").replace("+", "__")
    config = config_from_mapping(candidate["config"])
    finished = is_finished_run(folder, config)
    if not finished:
        log.info("training %s", candidate["label"])
        run_distill(config, folder)
    scores_path = folder / SCORES_FILE
    stored = json.loads(scores_path.read_text()) if finished and scores_path.is_file() else {}
    if stored.get("scoring") != scoring:
        stored = {"scoring": scoring, **score(folder / STUDENT_DIR, *validation, threat, scoring["examples"],
                                              scoring["seed"])}
        scores_path.write_text(json.dumps(stored, indent=2))
    return {k: v for k, v in stored.items() if k != "scoring"}


def run_candidate_recorded(candidate: dict[str, Any], out: Path, validation: tuple[list[str], list[int]],
                            scoring: dict[str, Any], threat: ThreatModel, threads: int) -> tuple[dict[str, Any], set[str]]:
    """`run_candidate` in a worker process: its scores and the test splits it read (a recorder sees
    only its own process, so the parent merges these into its own record)."""
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with record_test_reads() as reads:
        result = run_candidate(candidate, out, validation, scoring, threat)
    return result, reads


def training_cost(candidate: dict[str, Any]) -> float:
    """Passes over the public texts, to start the longest candidates first."""
    train = candidate["config"]["train"]
    copies = (train.get("max_augmented_copies") or 0) if train.get("use_augmented", True) else 0
    return train["epochs"] * (1 + copies)


def run_candidates(found: list[dict[str, Any]], out: Path, validation: tuple[list[str], list[int]],
                   scoring: dict[str, Any], threat: ThreatModel, jobs: int, threads: int,
                   reads: set[str]) -> list[dict[str, Any]]:
    """Every candidate's scores, in ``found``'s order; ``jobs`` > 1 trains that many at once, each in
    its own process (training with its config's ``train.threads``, scoring with ``threads``), and adds
    their test reads to ``reads``. Jobs that need more threads than there are cores are refused."""
    if jobs <= 1:
        return [run_candidate(c, out, validation, scoring, threat) for c in found]
    check_parallel_training(jobs, max([threads] + [config_from_mapping(c["config"]).train.threads for c in found]))
    order = sorted(range(len(found)), key=lambda i: -training_cost(found[i]))
    results: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {i: pool.submit(run_candidate_recorded, found[i], out, validation, scoring, threat, threads)
                   for i in order}
        for i, future in futures.items():
            results[i], worker_reads = future.result()
            reads.update(worker_reads)
    return [results[i] for i in range(len(found))]


def choose(rows: list[dict[str, Any]], design: str, tolerance: float) -> tuple[dict[str, str], list[str]]:
    """(axis -> chosen option, labels of the candidates the rule picked)."""
    if design == "grid":
        winner = select(rows, tolerance)
        return dict(winner["options"]), [winner["label"]]
    chosen: dict[str, str] = {}
    picked = []
    for axis in AXES:
        if not any(axis in r["axes"] and not r["is_base"] for r in rows):
            continue  # every option of this axis is the base's own setting (or concerns an objective it lacks)
        winner = select([r for r in rows if axis in r["axes"] or r["is_base"]], tolerance)
        picked.append(winner["label"])
        if axis in winner["options"]:
            chosen[axis] = winner["options"][axis]
    return chosen, picked


def write_outputs(out: Path, rows: list[dict[str, Any]], chosen: dict[str, str], picked: list[str],
                  selected: dict[str, Any], args: argparse.Namespace) -> None:
    columns = ["label", "axes", "val_natural_acc", "val_adversarial_acc", "val_attacked", "validation_examples", "picked"]
    table = [{"label": r["label"], "axes": "/".join(r["axes"]), "val_natural_acc": round(r["val_natural_acc"], 4),
              "val_adversarial_acc": round(r["val_adversarial_acc"], 4), "val_attacked": r["val_attacked"],
              "validation_examples": r["validation_examples"], "picked": r["label"] in picked} for r in rows]
    with open(out / "selection.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    lines = [
        f"# Distillation choices selected on validation ({args.design})", "",
        f"Base config: `{args.config}`; epochs scale {args.epochs_scale:g}; seed {args.seed}.",
        f"Scored on the public validation texts only: natural accuracy, and accuracy under fast_deepwordbug at "
        f"{args.word_budget:.0%} of words ({args.attack_examples or 'all'} texts attacked).",
        f"Rule: within {100 * args.tolerance:g} point(s) of the best validation natural accuracy, the highest "
        "validation accuracy under attack (ties: natural accuracy, then the base's setting)"
        + (", per axis; the winners are combined." if args.design != "grid" else "."), "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
        *("| " + " | ".join(str(row[c]) for c in columns) + " |" for row in table), "",
        "Selected: " + (", ".join(f"{axis} = {option}" for axis, option in chosen.items()) or "the base config"),
        f"Config: `{out / 'selected.yaml'}` (no test text was read by this selection)", "",
        "    " + " ".join(["python", "simulations/distill_selection.py", *args.argv]),
    ]
    (out / "selection.md").write_text("\n".join(lines) + "\n")
    (out / "selected.yaml").write_text(yaml.safe_dump(selected, sort_keys=False))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=BASE_CONFIG, help="base distill config")
    parser.add_argument("--data", default=None, help="overrides the config's data")
    parser.add_argument("--teacher", default=None, help="overrides the config's teacher")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "distill_selection")
    parser.add_argument("--design", choices=("one-at-a-time", "grid"), default="one-at-a-time")
    parser.add_argument("--epochs-scale", type=float, default=1.0,
                        help="multiply train.epochs and every start_epoch (rounded, >= 1): smaller runs")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a base config key, e.g. --set objectives.discrete_adversarial.pool_size=200")
    parser.add_argument("--word-budget", type=float, default=0.1, help="fraction of words the attack may modify")
    parser.add_argument("--attack-examples", type=int, default=None, help="seeded sample of validation texts (default all)")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--tolerance", type=float, default=0.01, help="natural accuracy given up for robustness")
    parser.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the scoring (training takes the config's train.threads)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="candidates trained at once, each in its own process: jobs x train.threads must fit the cores")
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.threads < 1:
        parser.error("--jobs and --threads must be at least 1")
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    shortcuts = {"data": args.data, "teacher": args.teacher, "seed": args.seed}
    overrides = {**parse_overrides(args.overrides), **{k: v for k, v in shortcuts.items() if v is not None}}
    base = load_config(args.config, overrides).to_dict()
    args.seed = base["seed"]
    args.out.mkdir(parents=True, exist_ok=True)
    threat = ThreatModel("fast_deepwordbug", word_budgets=[args.word_budget], max_queries=args.max_queries)
    scoring = {"attack": threat.attack, "word_budget": args.word_budget, "max_queries": args.max_queries,
               "examples": args.attack_examples, "seed": args.seed}

    with record_test_reads() as reads:
        found = candidates(base, args.design, args.epochs_scale)
        validation = load_inputs(config_from_mapping(found[0]["config"])).validation()  # the same rows for all
        scores = run_candidates(found, args.out, validation, scoring, threat, args.jobs, args.threads, reads)
        rows = [{"label": c["label"], "axes": c["axes"], "options": c["options"], "is_base": c["is_base"], **s}
                for c, s in zip(found, scores)]
        chosen, picked = choose(rows, args.design, args.tolerance)
        changes = {k: v for axis, option in chosen.items() for k, v in AXES[axis][option].items()}
        selected = config_from_mapping(apply(base, changes, args.epochs_scale)).to_dict()
    assert_no_test_reads(reads, "the distillation selection")
    write_outputs(args.out, rows, chosen, picked, selected, args)
    log.info("selected %s in %.0f s: %s", chosen or "the base", time.perf_counter() - started, args.out / "selected.yaml")
    print((args.out / "selection.md").read_text())
    return {"rows": rows, "chosen": chosen, "picked": picked, "selected": selected}


if __name__ == "__main__":
    main()
