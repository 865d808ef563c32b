"""Data sources by name: `NAME` for packaged corpora, `SCHEME:ARGUMENT` for user data."""

from __future__ import annotations

import datasets

from fedrobust.data.sources.airline_tweets import load_airline_tweets
from fedrobust.data.sources.base import SourceLoader, SourceOptions
from fedrobust.data.sources.bbc_news import load_bbc_news
from fedrobust.data.sources.huggingface import load_hub_dataset
from fedrobust.data.sources.leaf_dir import load_leaf_directory
from fedrobust.data.sources.local_files import csv_loader, jsonl_loader, parquet_loader
from fedrobust.data.sources.rotten_tomatoes import load_rotten_tomatoes
from fedrobust.errors import DataError
from fedrobust.registry import Registry

SOURCES: Registry[SourceLoader] = Registry("data source")
SOURCES.register("rotten_tomatoes")(load_rotten_tomatoes)
SOURCES.register("airline_tweets")(load_airline_tweets)
SOURCES.register("bbc_news")(load_bbc_news)
SOURCES.register("hf")(load_hub_dataset)
SOURCES.register("csv")(csv_loader)
SOURCES.register("jsonl")(jsonl_loader)
SOURCES.register("parquet")(parquet_loader)
SOURCES.register("leaf")(load_leaf_directory)

SCHEMES = {"hf", "csv", "jsonl", "parquet", "leaf"}
DEFAULT_SOURCE = "rotten_tomatoes"


def load_source(spec: str, options: SourceOptions | None = None) -> datasets.Dataset:
    """Load ``spec`` (``rotten_tomatoes``, ``hf:sentiment140``, ``csv:reviews.csv``, ``leaf:DIR`` ...)."""
    name, sep, argument = spec.partition(":")
    loader = SOURCES.get(name)
    if (name in SCHEMES) != bool(sep):
        usage = f"{name}:ARGUMENT" if name in SCHEMES else name
        raise DataError(f"source {spec!r}: write it as {usage}")
    return loader(argument, options or SourceOptions())


__all__ = ["SOURCES", "SourceOptions", "load_source", "DEFAULT_SOURCE"]
