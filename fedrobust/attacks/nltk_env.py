"""The project's own NLTK data dir on nltk's search path, and no downloads from nltk."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from fedrobust.errors import ResourceUnavailableError
from fedrobust.resources import DEBIAN_WORDNET_DIR, ensure_nltk_data, has_wordnet


def prepare_nltk() -> Path:
    """Create the NLTK data dir under fedrobust_home(), put it first on nltk.data.path."""
    import nltk

    data_dir = ensure_nltk_data()
    if str(data_dir) not in nltk.data.path:
        nltk.data.path.insert(0, str(data_dir))
    return data_dir


def require_wordnet() -> None:
    prepare_nltk()
    if not has_wordnet():
        raise ResourceUnavailableError(
            f"WordNet is missing: no WordNet files in {DEBIAN_WORDNET_DIR}; install them with "
            "`apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index`"
        )


def _no_download(*_args: object, **_kwargs: object) -> bool:
    return False


@contextlib.contextmanager
def nltk_downloads_blocked() -> Iterator[None]:
    """Turn nltk.download into a no-op: what we need is prepared by prepare_nltk()."""
    import nltk

    original = nltk.download
    nltk.download = _no_download
    try:
        yield
    finally:
        nltk.download = original
