"""`fedrobust teacher`: fine-tune and cache the teacher for distillation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fedrobust.config_schema import add_dataclass_flags, dataclass_from_args
from fedrobust.distill.teacher_pipeline import TeacherConfig


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("teacher", help="fine-tune a Hugging Face teacher on a dataset's public split")
    p.add_argument("--data", required=True, type=Path, help="prepared federated data folder (fedrobust data prepare)")
    p.add_argument("--out", required=True, type=Path, help="teacher folder: model/, metrics.json, cache")
    add_dataclass_flags(p, TeacherConfig)  # the run config's teacher section: same keys, same defaults
    p.add_argument("--recache", action="store_true",
                   help="reuse the fine-tuned teacher already in --out and only recompute its cache")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fedrobust.distill.teacher_pipeline import recache_teacher, run_teacher

    options = dataclass_from_args(TeacherConfig, args)
    if args.recache:
        recache_teacher(args.data, args.out, options)
        return 0
    metrics = run_teacher(args.data, args.out, options)
    print(json.dumps(metrics["teacher"], indent=2))
    return 0
