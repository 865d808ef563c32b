"""The `fedrobust` command: each subcommand lives in its own module under fedrobust.cli."""

from __future__ import annotations

import argparse
import errno
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


# what a user can do about an OSError, by errno
FIXES = {
    errno.EACCES: "make the folder writable for this user or choose another output folder",
    errno.EPERM: "make the folder writable for this user or choose another output folder",
    errno.EROFS: "the file system is read-only; choose an output folder on a writable one",
    errno.ENOSPC: "free disk space or choose an output folder on another disk",
    errno.EDQUOT: "free disk space or choose an output folder on another disk",
    errno.ENOENT: "check that the path exists",
    errno.EISDIR: "a directory is where a file should be; move it away",
    errno.ENOTDIR: "a file is where a folder should be; move it away",
}


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
    except OSError as exc:
        # a file the system would not let us read or write (read-only folder, full disk, a
        # directory where a file should be): the user's to fix, so one line naming the path;
        # an OSError that names no file is not known to be the user's, and keeps its traceback
        if args.verbose or exc.filename is None:
            raise
        print(f"fedrobust {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2


def describe_os_error(exc: OSError) -> str:
    """``PATH: reason; fix`` for an OSError that names its file."""
    path = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else f"{exc.filename}"
    reason = (exc.strerror or str(exc)).strip().splitlines()[0]
    fix = FIXES.get(exc.errno, "check the path")
    return f"{path}: {reason}; {fix}"


if __name__ == "__main__":
    sys.exit(main())
