"""`fedrobust search --config FILE --out DIR [--set key=value ...]`: robust student architecture search
(resumable; reads validation texts only), then `fedrobust search-test DIR`: the final evaluation of
its selection on the public test split, or `fedrobust search-final DIR --seeds 0 1 2`: its front and
the hand-designed student re-trained at the full distill budget per seed, judged on test."""

from __future__ import annotations

import argparse
from pathlib import Path

from fedrobust.config_schema import parse_overrides


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "search", help="search student architectures for accuracy, robustness and size (Pareto front)"
    )
    p.add_argument("--config", required=True, type=Path, help="search YAML (see configs/search.yaml)")
    p.add_argument("--out", required=True, type=Path,
                   help="search folder; rerun with the same --out to resume without re-evaluating candidates")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set evaluation.examples=50 --set distill.train.epochs=2")
    p.add_argument("--strategy", default=None, help="overrides config key strategy.name (evolution, random, successive_halving)")
    p.add_argument("--candidates", type=int, default=None, help="overrides config key candidates (the budget)")
    p.add_argument("--seed", type=int, default=None, help="overrides config key seed (the strategy's)")
    p.add_argument("--data", default=None, help="overrides config key data")
    p.add_argument("--teacher", default=None, help="overrides config key teacher")
    p.add_argument("--threads", type=int, default=None, help="overrides config key threads (torch CPU threads)")
    p.add_argument("--export", default=None, metavar="DIR", help="overrides config key export.to")
    p.add_argument("--export-candidate", default=None, metavar="KEY", help="overrides config key export.candidate")
    _execution_flags(p)
    p.set_defaults(func=run)

    t = subparsers.add_parser(
        "search-test", help="after a search: score its front, reference and exported student on the public test split"
    )
    t.add_argument("out", type=Path, help="the --out folder of a finished `fedrobust search`")
    t.set_defaults(func=run_final_test)

    f = subparsers.add_parser(
        "search-final", help="after a search: re-train its front and the hand-designed student at the full distill "
                             "budget once per seed, score them on test and say whether a searched student wins"
    )
    f.add_argument("out", type=Path, help="the --out folder of a finished `fedrobust search`")
    f.add_argument("--seeds", type=int, nargs="+", default=None, help="overrides config key final.seeds")
    f.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a final.* or execution.* key, e.g. --set final.examples=300")
    _execution_flags(f)
    f.set_defaults(func=run_search_final)


def _execution_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None, help="overrides config key execution.backend (local, ray)")
    parser.add_argument("--ray-address", default=None, help="overrides config key execution.ray_address (auto, host:port)")
    parser.add_argument("--max-parallel", type=int, default=None, help="overrides config key execution.max_parallel")


def _execution_overrides(args: argparse.Namespace) -> dict:
    shortcuts = {"execution.backend": args.backend, "execution.ray_address": args.ray_address,
                 "execution.max_parallel": args.max_parallel}
    return {k: v for k, v in shortcuts.items() if v is not None}


def overrides_of(args: argparse.Namespace) -> dict:
    """``--set`` pairs, then the shortcut flags that were given."""
    shortcuts = {
        "strategy.name": args.strategy, "candidates": args.candidates, "seed": args.seed, "data": args.data,
        "teacher": args.teacher, "threads": args.threads, "export.to": args.export,
        "export.candidate": args.export_candidate,
    }
    return {**parse_overrides(args.overrides), **{k: v for k, v in shortcuts.items() if v is not None},
            **_execution_overrides(args)}


def run(args: argparse.Namespace) -> int:
    import torch

    from fedrobust.pipeline.lock import run_folder_lock
    from fedrobust.search import load_search_config, run_search

    config = load_search_config(args.config, overrides_of(args))
    torch.set_num_threads(config.threads)
    with run_folder_lock(args.out, "fedrobust search"):
        result = run_search(config, args.out)
    print(f"{len(result.entries)} candidates ({result.evaluated_now} evaluated now, the rest from {args.out}); "
          f"Pareto front of {len(result.front)}: {args.out / 'pareto.json'}, {args.out / 'pareto.png'}")
    metrics = [o["metric"] for o in config.objectives]
    print("key           student  " + "  ".join(metrics))
    for entry in result.front:
        values = "  ".join(f"{entry['metrics'][m]:.4g}" for m in metrics)
        print(f"{entry['key']}  {entry['student']['name']}  {values}")
    if result.reference is not None:
        values = "  ".join(f"{result.reference['metrics'][m]:.4g}" for m in metrics)
        print(f"hand-designed {result.reference['key']}: {values}")
    if result.exported:
        print(f"exported student: {result.exported} (config key model of `fedrobust simulate`, or distill.path of `fedrobust run`)")
    print(f"selection made on validation texts; its test scores: fedrobust search-test {args.out}")
    return 0


def run_final_test(args: argparse.Namespace) -> int:
    from fedrobust.errors import ConfigError
    from fedrobust.pipeline.lock import run_folder_lock
    from fedrobust.search.holdout import FINAL_TEST_FILE, final_test

    if not args.out.is_dir():
        raise ConfigError(f"{args.out} is not a folder; give the --out folder of a `fedrobust search`")
    with run_folder_lock(args.out, "fedrobust search-test", fix="wait for it to finish"):
        result = final_test(args.out)
    entries = [("front", e) for e in result["front"]] + ([("reference", result["reference"])] if result["reference"] else [])
    print("role       key           student           val_natural  val_adversarial  test_natural  test_adversarial")
    for role, entry in entries:
        m, t = entry["metrics"], entry["test"]
        mark = "*" if entry["key"] == result["exported"] else " "
        print(f"{role:<10} {entry['key']}{mark} {entry['student']['name']:<17} {m['val_natural_acc']:>11.4f}  "
              f"{m['val_adversarial_acc']:>15.4f}  {t['test_natural_acc']:>12.4f}  {t['test_adversarial_acc']:>16.4f}")
    print(f"(* exported) test scores, reported and never selected on: {args.out / FINAL_TEST_FILE}")
    return 0


def run_search_final(args: argparse.Namespace) -> int:
    from fedrobust.errors import ConfigError
    from fedrobust.pipeline.lock import run_folder_lock
    from fedrobust.search.final import FINAL_SEEDS_FILE, search_final

    if not args.out.is_dir():
        raise ConfigError(f"{args.out} is not a folder; give the --out folder of a `fedrobust search`")
    overrides = {**parse_overrides(args.overrides), **_execution_overrides(args)}
    if args.seeds is not None:
        overrides["final.seeds"] = args.seeds
    with run_folder_lock(args.out, "fedrobust search-final", fix="wait for it to finish"):
        result = search_final(args.out, overrides)
    labels = result["attacks"]
    print(f"{len(result['seeds'])} seeds, {result['test_texts']} test texts ({result['attacked_texts']} attacked); "
          "mean +/- sd over seeds, paired difference to the reference [95% interval]")
    print("role       key           params    natural         " + "  ".join(f"{label:<24}" for label in labels))
    for s in result["students"]:
        cells = [f"{s['test_natural_acc']['mean']:.4f}+/-{s['test_natural_acc']['sd']:.4f}"]
        cells += [f"{s['test_robust_acc'][label]['mean']:.4f}+/-{s['test_robust_acc'][label]['sd']:.4f}" for label in labels]
        print(f"{s['role']:<10} {s['key']}  {s['params']:>8}  " + "  ".join(f"{c:<24}" for c in cells))
        if "verdict" in s:
            diffs = [s["natural"]] + [s["robust"][label] for label in labels]
            print(" " * 34 + "  ".join(f"{d['mean']:+.3f} [{d['interval'][0]:+.3f},{d['interval'][1]:+.3f}]".ljust(24)
                                       for d in diffs) + ("  WINS" if s["verdict"]["wins"] else ""))
    print(result["verdict"])
    print(f"test scores, reported and never selected on: {args.out / FINAL_SEEDS_FILE}")
    return 0
