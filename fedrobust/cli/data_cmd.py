"""`fedrobust data prepare|stats|sources`."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from fedrobust.data.partitioners import PARTITIONERS
from fedrobust.data.prepare import PrepareOptions, prepare
from fedrobust.data.sources import DEFAULT_SOURCE, SOURCES, SourceOptions
from fedrobust.data.stats import format_stats, plot_label_distribution, stats_of_directory

log = logging.getLogger(__name__)
PLOT_NAME = "label_distribution.png"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="prepare LEAF-style federated datasets and inspect them")
    commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = commands.add_parser("prepare", help="source -> federated LEAF directory (train/, test/, public/, stats)")
    p.add_argument("--source", default=DEFAULT_SOURCE,
                   help="rotten_tomatoes | airline_tweets | bbc_news | hf:NAME | csv:FILE | jsonl:FILE | parquet:FILE | leaf:DIR")
    p.add_argument("--partition", default="natural", help=f"one of: {', '.join(PARTITIONERS.names())}")
    p.add_argument("--num-clients", type=int, default=None, help="device clients (not for natural; default 100)")
    p.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration / power-law shape")
    p.add_argument("--classes-per-client", type=int, default=2, help="pathological partition: classes per client")
    p.add_argument("--min-samples", type=int, default=2, help="smallest device client; smaller ones join the public split")
    p.add_argument("--user-fraction", type=float, default=1.0, help="fraction of device clients kept")
    p.add_argument("--train-fraction", type=float, default=0.8, help="per-client share of samples for training")
    p.add_argument("--public-fraction", type=float, default=0.15, help="share of samples held by the server (whole clients)")
    p.add_argument("--keep-duplicates", action="store_true", help="keep exact duplicate texts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    p.add_argument("--owner-column", default=None, help="column naming each sample's owner (natural partition)")
    p.add_argument("--hf-config", default=None, help="hub dataset configuration name")
    p.add_argument("--hf-split", default="train", help="hub dataset split")
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
    options = PrepareOptions(
        source=args.source, partition=args.partition, num_clients=args.num_clients, alpha=args.alpha,
        classes_per_client=args.classes_per_client, min_samples=args.min_samples,
        user_fraction=args.user_fraction, train_fraction=args.train_fraction,
        public_fraction=args.public_fraction, dedupe=not args.keep_duplicates, seed=args.seed,
        source_options=SourceOptions(args.text_column, args.label_column, args.owner_column, args.hf_config, args.hf_split),
    )
    options.validate()
    started = time.perf_counter()
    log.info("preparing %s with the %s partition ...", args.source, args.partition)
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
