"""`fedrobust distill --config FILE --out DIR`: train, compress and measure a student."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("distill", help="distil a compact robust student from a fine-tuned teacher")
    p.add_argument("--config", required=True, type=Path, help="distill YAML (see configs/distill_*.yaml)")
    p.add_argument("--out", required=True, type=Path, help="run folder: student/, student_int8/, metrics.json")
    p.add_argument("--data", default=None, help="overrides config key data")
    p.add_argument("--teacher", default=None, help="overrides config key teacher")
    p.add_argument("--seed", type=int, default=None, help="overrides config key seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fedrobust.distill import load_config, run_distill

    config = load_config(args.config, {"data": args.data, "teacher": args.teacher, "seed": args.seed})
    metrics = run_distill(config, args.out)
    print(json.dumps({"teacher": metrics["teacher"], "student": metrics["student"]}, indent=2))
    return 0
