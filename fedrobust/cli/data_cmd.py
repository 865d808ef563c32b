"""`fedrobust data prepare|stats|sources`."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from fedrobust.config_schema import add_dataclass_flags, dataclass_from_args
from fedrobust.data.prepare import DataConfig, prepare
from fedrobust.data.sources import SOURCES
from fedrobust.data.stats import format_stats, plot_label_distribution, stats_of_directory

log = logging.getLogger(__name__)
PLOT_NAME = "label_distribution.png"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="prepare LEAF-style federated datasets and inspect them")
    commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = commands.add_parser("prepare", help="source -> federated LEAF directory (train/, test/, public/, stats)")
    add_dataclass_flags(p, DataConfig)  # the run config's data section: same keys, same defaults
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run_prepare)

    s = commands.add_parser("stats", help="LEAF-style statistics and a per-client label plot")
    s.add_argument("directory", type=Path)
    s.add_argument("--plot", type=Path, default=None, help=f"PNG path (default DIR/{PLOT_NAME})")
    s.add_argument("--json", action="store_true", help="print the stats as JSON")
    s.set_defaults(func=run_stats)

    ls = commands.add_parser("sources", help="list the registered data sources")
    ls.set_defaults(func=lambda args: print("\n".join(SOURCES.names())) or 0)


def run_prepare(args: argparse.Namespace) -> int:
    from fedrobust.pipeline.lock import run_folder_lock, sibling_lock_path

    options = dataclass_from_args(DataConfig, args)
    options.validate()
    started = time.perf_counter()
    log.info("preparing %s with the %s partition ...", options.source, options.partition)
    # the lock lies beside --out: prepare swaps a new folder in for the old one
    with run_folder_lock(args.out, "fedrobust data prepare", lock_path=sibling_lock_path(args.out)):
        stats = prepare(options, args.out, overwrite=args.overwrite)
        _, per_client = stats_of_directory(args.out)
        plot = plot_label_distribution(per_client, stats["label_names"], args.out / PLOT_NAME)
    print(format_stats(stats))
    print(f"wrote {args.out} (train/, test/, public/, meta.json, stats.json, {plot.name}) in {time.perf_counter() - started:.1f} s")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    stats, per_client = stats_of_directory(args.directory)
    plot = plot_label_distribution(per_client, stats["label_names"], args.plot or args.directory / PLOT_NAME)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    print(f"plot: {plot}")
    return 0
