"""`fedrobust distill --config FILE --out DIR [--set key=value ...]`: train, compress and measure a student."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fedrobust.config_schema import parse_overrides


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("distill", help="distil a compact robust student from a fine-tuned teacher")
    p.add_argument("--config", required=True, type=Path, help="distill YAML (see configs/distill_*.yaml)")
    p.add_argument("--out", required=True, type=Path, help="run folder: student/, student_int8/, metrics.json")
    p.add_argument("--data", default=None, help="config key data")
    p.add_argument("--teacher", default=None, help="config key teacher")
    p.add_argument("--seed", type=int, default=None, help="config key seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.epochs=2 --set objectives.kd.temperature=4")
    p.set_defaults(func=run)


def overrides_of(args: argparse.Namespace) -> dict:
    """``--set`` pairs, then the shortcut flags that were given."""
    shortcuts = {"data": args.data, "teacher": args.teacher, "seed": args.seed}
    return {**parse_overrides(args.overrides), **{k: v for k, v in shortcuts.items() if v is not None}}


def run(args: argparse.Namespace) -> int:
    from fedrobust.distill import load_config, run_distill

    config = load_config(args.config, overrides_of(args))
    metrics = run_distill(config, args.out)
    print(json.dumps({"teacher": metrics["teacher"], "student": metrics["student"]}, indent=2))
    return 0
