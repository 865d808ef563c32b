"""`fedrobust report RUN_DIR [RUN_DIR ...]`: Markdown and HTML with plots, comparing runs."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fedrobust.report import build_report

    out = args.out or args.runs[0] / ("report" if len(args.runs) == 1 else "report-compare")
    paths = build_report(args.runs, out, title=args.title, compare_to=args.compare_to)
    print(f"wrote {paths['markdown']}, {paths['html']} and {len(paths['plots'])} plots")
    return 0
