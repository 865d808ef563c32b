"""The `fedrobust` command: each subcommand lives in its own module under fedrobust.cli."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fedrobust import __version__
from fedrobust.errors import FedrobustError

# Each module defines `add_parser(subparsers)`; the parser it adds sets `func(args) -> int`.
SUBCOMMAND_MODULES = [
    "fedrobust.cli.data_cmd",
    "fedrobust.cli.resources_cmd",
    "fedrobust.cli.teacher_cmd",
    "fedrobust.cli.distill_cmd",
    "fedrobust.cli.evaluate_cmd",
    "fedrobust.cli.simulate_cmd",
    "fedrobust.cli.run_cmd",
    "fedrobust.cli.report_cmd",
    "fedrobust.cli.search_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fedrobust",
        description="Federated simulation of robust, explainable, personalized compact text classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"fedrobust {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # our own loggers talk at INFO; third-party libraries only at WARNING unless --verbose
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    logging.getLogger("fedrobust").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except FedrobustError as exc:
        if args.verbose:
            raise
        print(f"fedrobust {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
