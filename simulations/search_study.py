"""Robust student architecture search study (issue 9): evolution vs random search with the same
budget, against the hand-designed student, on rotten_tomatoes.

Every candidate (and the hand-designed student of configs/distill_full.yaml) is distilled with the
same robust objectives on the same per-candidate budget (configs/search.yaml: 3 epochs, one
teacher-labelled copy per text, adversarial objectives from epoch 2) and scored on the validation
texts (10% of the public train split): natural accuracy, accuracy under fast_deepwordbug on a
seeded sample of 100 of them, parameters. The searches read no test text. Once both have
finished, the final evaluation scores their fronts and the hand-designed student on the public test
split (`fedrobust search-test`, fedrobust.search.holdout.final_test): reported, never used to select.

The strategies advance in turns (budget 6, 10, 14, ... evaluations each; a resumed search extends
the same trajectory), so a deadline stops both at the same budget.

    python simulations/search_study.py --data /tmp/rt --teacher /tmp/teacher_rt --out runs/search_study
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from distill_study import markdown  # simulations/ is on the path when a script here runs
from fedrobust.config_schema import read_yaml_mapping
from fedrobust.data.reads_of_test_texts import assert_no_test_reads, record_test_reads
from fedrobust.search import Objective, SearchConfig, load_search_config, run_search
from fedrobust.search.holdout import final_test
from fedrobust.search.pareto import dominates, violation
from fedrobust.search.plot import plot_fronts

log = logging.getLogger("search_study")
ROOT = Path(__file__).resolve().parents[1]
STRATEGY_OPTIONS = {"evolution": None, "random": {"batch": 4}}  # None: the config file's options


def strategy_config(base: SearchConfig, name: str, candidates: int) -> SearchConfig:
    config = copy.deepcopy(base)
    config.strategy.name = name
    if STRATEGY_OPTIONS[name] is not None:
        config.strategy.options = dict(STRATEGY_OPTIONS[name])
    config.candidates = candidates
    config.reference = name == "evolution"  # scored once, in the evolution folder
    return config


def coverage(a: list[dict[str, Any]], b: list[dict[str, Any]], objectives: list[Objective]) -> float:
    """Share of front ``b`` dominated by some member of front ``a`` (Zitzler's set coverage)."""
    if not b:
        return 0.0
    return sum(any(dominates(x["metrics"], y["metrics"], objectives) for x in a) for y in b) / len(b)


def describe(student: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in student.items() if k not in ("name", "embedding")]
    if "embedding" in student:
        parts.insert(0, "emb=" + "/".join(str(v) for v in student["embedding"].values()))
    return f"{student['name']}({', '.join(parts)})"


def table_rows(label: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for e in sorted(entries, key=lambda e: e["metrics"]["params"]):
        m, t = e["metrics"], e.get("test", {})
        rows.append({
            "source": label, "key": e["key"], "student": describe(e["student"]), "params": m["params"],
            "val_natural_acc": round(m["val_natural_acc"], 4), "val_adversarial_acc": round(m["val_adversarial_acc"], 4),
            "test_natural_acc": round(t["test_natural_acc"], 4) if t else "",
            "test_adversarial_acc": round(t["test_adversarial_acc"], 4) if t else "",
            "latency_ms": round(m["latency_ms"], 3), "train_s": round(m["train_seconds"], 1),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "search.yaml")
    parser.add_argument("--data", default=None, help="overrides the config's data")
    parser.add_argument("--teacher", default=None, help="overrides the config's teacher")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "search_study")
    parser.add_argument("--steps", default="6,10,14", help="budgets the two strategies reach in turns")
    parser.add_argument("--deadline-minutes", type=float, default=None,
                        help="start no new budget step after this many minutes (both stop at the same budget;"
                        " the first step always runs)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("fedrobust.distill.trainer").setLevel(logging.WARNING)
    started = time.perf_counter()
    shortcuts = {"data": args.data, "teacher": args.teacher, "threads": args.threads}
    base = load_search_config(args.config, {k: v for k, v in shortcuts.items() if v is not None})
    objectives, bounds = base.objective_list(), base.bounds()

    steps = [int(s) for s in args.steps.split(",")]
    with record_test_reads() as reads:
        reached = 0
        for step in steps:
            late = args.deadline_minutes is not None and time.perf_counter() - started > 60 * args.deadline_minutes
            if late and reached:
                log.info("deadline passed: stopping at %d candidates per strategy", reached)
                break
            for name in STRATEGY_OPTIONS:
                run_search(strategy_config(base, name, step), args.out / name)
                log.info("%s reached %d candidates (%.0f s so far)", name, step, time.perf_counter() - started)
            reached = step
        results = {name: run_search(strategy_config(base, name, reached), args.out / name) for name in STRATEGY_OPTIONS}
    assert_no_test_reads(reads, "the searches")
    reference = results["evolution"].reference
    fronts = {name: r.front for name, r in results.items()}
    everything = {name: [e.to_dict() for e in r.entries] for name, r in results.items()}

    # the final evaluation, after both selections are made: the fronts and the reference on test
    tested = {name: final_test(args.out / name) for name in STRATEGY_OPTIONS}
    rows = table_rows("hand-designed", [tested["evolution"]["reference"]])
    for name in fronts:
        rows += table_rows(f"{name} front", tested[name]["front"])
    summary = {
        "candidates_per_strategy": reached,
        "per_candidate_budget": {k: v for k, v in read_yaml_mapping(args.config)["distill"].items() if k != "extends"},
        "objectives": base.objectives,
        "front_sizes": {name: len(f) for name, f in fronts.items()},
        "coverage_evolution_over_random": coverage(fronts["evolution"], fronts["random"], objectives),
        "coverage_random_over_evolution": coverage(fronts["random"], fronts["evolution"], objectives),
        "dominating_reference": {
            name: [e["key"] for e in entries if dominates(e["metrics"], reference["metrics"], objectives)]
            for name, entries in everything.items()
        },
        # within the feasibility bounds; "as accurate": val_natural_acc >= the hand-designed student's
        "best_val_adversarial_acc": {name: max((e["metrics"]["val_adversarial_acc"] for e in front), default=None)
                             for name, front in fronts.items()},
        "best_val_adversarial_acc_as_accurate_as_reference": {
            name: max((e["metrics"]["val_adversarial_acc"] for e in front
                       if e["metrics"]["val_natural_acc"] >= reference["metrics"]["val_natural_acc"]), default=None)
            for name, front in fronts.items()
        },
        "reference_val": {k: reference["metrics"][k] for k in ("val_natural_acc", "val_adversarial_acc", "params")},
        "reference_on_joint_front": not any(
            dominates(e["metrics"], reference["metrics"], objectives) for f in fronts.values() for e in f),
        "out_of_bounds": {name: sum(violation(e["metrics"], bounds) > 0 for e in entries)
                          for name, entries in everything.items()},
        "evaluation_seconds": {name: sum(e["metrics"]["seconds"] for e in entries) for name, entries in everything.items()},
        "threads": args.threads,
        "seconds": time.perf_counter() - started,
    }
    plot_fronts(
        {name: ([e["metrics"] for e in everything[name]], [e["metrics"] for e in fronts[name]]) for name in fronts},
        reference["metrics"], args.out / "fronts.png",
        title=f"rotten_tomatoes: evolution vs random, {reached} candidates each (validation split)",
    )
    (args.out / "table.md").write_text(markdown(rows) + "\n")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(markdown(rows))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
