"""Unlabelled transfer texts for distillation: the teacher labels them, the student fits it there.

The public split of a federated dataset is small (1,556 labelled texts on rotten_tomatoes), and
a student trained on it fits only a small part of the teacher's function. The teacher can label
any text the server holds, so distillation is not limited to the labelled split (Tang et al.
2019 label augmented text; unlabelled in-domain or related text works the same way).

Each entry of ``teacher.transfer`` is a text-only corpus by name (``rotten_tomatoes_plots``),
a plain text file with one text per line (``txt:PATH``), or any data source that
`fedrobust data prepare --source` accepts (``airline_tweets``, ``hf:imdb``,
``csv:reviews.csv``); of a data source only the text column is read, its labels are ignored.
Texts that occur anywhere in the prepared dataset (public or device, train or test) are
dropped, so no evaluated text reaches the student through the transfer set.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Callable, Iterable

from fedrobust.data.sources import SOURCES, load_source
from fedrobust.data.sources.rotten_tomatoes import rotten_tomatoes_plot_summaries
from fedrobust.errors import ConfigError, DataError
from fedrobust.registry import Registry

log = logging.getLogger(__name__)

TEXT_CORPORA: Registry[Callable[[], list[str]]] = Registry("text corpus")
TEXT_CORPORA.register("rotten_tomatoes_plots")(rotten_tomatoes_plot_summaries)


def check_transfer_spec(spec: str) -> None:
    """Fail before any work on a name that is neither a text corpus nor a data source."""
    if spec in TEXT_CORPORA or spec.partition(":")[0] in SOURCES or spec.startswith("txt:"):
        return
    raise ConfigError(
        f"unknown transfer corpus {spec!r}; text corpora: {', '.join(TEXT_CORPORA.names())}; "
        f"a text file: txt:PATH; or a data source: {', '.join(SOURCES.names())} (hf:NAME, csv:PATH, ...)"
    )


def corpus_texts(spec: str) -> list[str]:
    check_transfer_spec(spec)
    if spec in TEXT_CORPORA:
        return TEXT_CORPORA.get(spec)()
    if spec.startswith("txt:"):
        path = Path(spec[4:]).expanduser()
        if not path.is_file():
            raise DataError(f"transfer corpus {spec}: no such file")
        try:
            return path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"transfer corpus {spec}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return list(load_source(spec)["text"])


def transfer_texts(specs: Iterable[str], max_per_corpus: int | None, seed: int, exclude: set[str]) -> list[str]:
    """Distinct non-empty texts from each corpus, minus ``exclude``: a seeded sample of at most
    ``max_per_corpus`` from each, in the order the corpora are listed."""
    chosen: list[str] = []
    seen = set(exclude)
    for spec in specs:
        texts = sorted({t for t in corpus_texts(spec) if t.strip()} - seen)
        random.Random(seed).shuffle(texts)
        texts = texts[:max_per_corpus]
        log.info("transfer corpus %s: %d texts", spec, len(texts))
        seen.update(texts)
        chosen += texts
    return chosen
