"""`fedrobust report RUN_DIR [RUN_DIR ...]`: Markdown and HTML with plots, comparing runs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from fedrobust.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="Markdown + HTML report with plots for finished runs (fedrobust run or simulate folders)",
        description="With one run folder the report goes to RUN_DIR/report/; with several, to --out "
        "(default: the first run's report-compare/).",
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=None, help="report folder")
    p.add_argument("--title", default=None)
    p.add_argument("--compare-to", default=None, metavar="ALGORITHM",
                   help="reference of the paired comparisons (e.g. fedavg_ft): each algorithm against it from the "
                        "same start, and against itself from other starts (default: every pair)")
    p.add_argument("--across-seeds", action="store_true",
                   help="the runs are seeds of one study (e.g. the seed-<s>/ folders of a multi-seed run, finished "
                        "so far): add its benchmark tables and figures as mean ± sd over seeds")
    p.set_defaults(func=run)


def seed_of(folder: Path, position: int) -> int:
    """``seed-3`` -> 3; any other folder name -> its position among the runs."""
    match = re.fullmatch(r"seed-(\d+)", folder.resolve().name)
    return int(match.group(1)) if match else position


def run(args: argparse.Namespace) -> int:
    from fedrobust.report import build_report
    from fedrobust.report.benchmark_tables import benchmark_blocks
    from fedrobust.report.seeds import seed_blocks, seed_summary

    out = args.out or args.runs[0] / ("report" if len(args.runs) == 1 else "report-compare")
    extra = []
    if args.across_seeds:
        seed_dirs = {seed_of(folder, i): folder for i, folder in enumerate(args.runs)}
        if len(seed_dirs) != len(args.runs):
            raise ConfigError("--across-seeds: two runs have the same seed (folder seed-<s>); name each seed once")
        summary = seed_summary(seed_dirs, args.compare_to)
        extra = benchmark_blocks(summary, args.compare_to) + seed_blocks(summary)
    paths = build_report(args.runs, out, title=args.title, compare_to=args.compare_to, extra=extra,
                         compare_within_runs=args.across_seeds)
    print(f"wrote {paths['markdown']}, {paths['html']} and {len(paths['plots'])} plots")
    return 0
