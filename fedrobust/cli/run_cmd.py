"""`fedrobust run CONFIG [--set key=value ...] [--out DIR]`: the whole study, each stage cached."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fedrobust.config_schema import parse_overrides


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="the whole study: data, teacher, robust student, attacks, Flower federation, report",
        description="Runs every stage of CONFIG (see configs/quickstart.yaml) into the run folder. A stage whose "
        "config keys and upstream stages are unchanged is reused; a killed run continues where it stopped.",
    )
    p.add_argument("config", type=Path, help="run YAML, e.g. configs/quickstart.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set federated.rounds=5 --set teacher.epochs=1")
    p.add_argument("--out", default=None, help="run folder (config key out; default runs/<name>)")
    p.add_argument("--seed", type=int, default=None, help="config key seed")
    p.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S",
                   help="config key seeds: one run per seed in OUT/seed-<s>/, aggregated as mean ± sd")
    p.add_argument("--federated-seeds", type=int, nargs="+", default=None, metavar="S",
                   help="config key federated_seeds: like --seeds, varying only the federated stages")
    p.add_argument("--rerun", action="append", default=[], metavar="STAGE",
                   help="run this stage again even if it is cached (e.g. federated-robust_student)")
    p.add_argument("--prune", action="store_true", help="delete stage outputs the current config no longer uses")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fedrobust.pipeline import load_run_config, run_study
    from fedrobust.pipeline.summary_text import format_headline, format_seed_headline

    overrides = parse_overrides(args.overrides)
    if args.out is not None:
        overrides["out"] = args.out
    for key in ("seed", "seeds", "federated_seeds"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    config = load_run_config(args.config, overrides)
    summary = run_study(config, verbose=logging.getLogger().level <= logging.DEBUG, rerun=args.rerun, prune=args.prune)
    print(format_headline(summary) if "figures" not in summary else format_seed_headline(summary))
    return 0
