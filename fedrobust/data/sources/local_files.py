"""`csv:`, `jsonl:` and `parquet:` local files with configurable columns."""

from __future__ import annotations

from pathlib import Path

import datasets

from fedrobust.data.sources.base import SourceOptions, from_table
from fedrobust.errors import DataError
from fedrobust.resources import fedrobust_home

BUILDERS = {"csv": "csv", "jsonl": "json", "parquet": "parquet"}


def load_local_file(kind: str, path_text: str, options: SourceOptions) -> datasets.Dataset:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DataError(f"{kind}:{path_text}: no such file")
    try:
        table = datasets.load_dataset(
            BUILDERS[kind], data_files=str(path), split="train", cache_dir=str(fedrobust_home() / "hf_datasets")
        )
    except Exception as exc:  # the builders raise many types for malformed files
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"{path}: cannot parse as {kind} ({first_line[:160]})") from None
    return from_table(table, options, str(path))


def csv_loader(argument: str, options: SourceOptions) -> datasets.Dataset:
    return load_local_file("csv", argument, options)


def jsonl_loader(argument: str, options: SourceOptions) -> datasets.Dataset:
    return load_local_file("jsonl", argument, options)


def parquet_loader(argument: str, options: SourceOptions) -> datasets.Dataset:
    return load_local_file("parquet", argument, options)
