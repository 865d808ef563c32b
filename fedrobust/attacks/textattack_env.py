"""Import TextAttack offline, quietly, and without touching the user's global caches.

TextAttack 0.3.11 downloads NLTK corpora on first import (unless a marker file exists in its
cache dir), needs NLTK's stopwords to import at all, points HF/TF/XDG caches at its own cache
dir when ``TA_CACHE_DIR`` is set, and calls ``nltk.download("omw-1.4")`` whenever a WordNet
swap is built. This module prepares all of that under ``fedrobust_home()`` first; call
``import_textattack()`` instead of ``import textattack``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Iterator

from fedrobust.attacks.nltk_env import nltk_downloads_blocked, prepare_nltk
from fedrobust.errors import ResourceUnavailableError
from fedrobust.resources import fedrobust_home

# TextAttack skips its NLTK download step when this file exists in its cache dir.
POST_INSTALL_MARKER = "post_install_check_3"
# textattack's set_cache_dir() rewrites these for the whole process; we put them back.
_CACHE_ENV_VARS = ("TFHUB_CACHE_DIR", "PYTORCH_TRANSFORMERS_CACHE", "HF_HOME", "XDG_CACHE_HOME")


def textattack_cache_dir() -> Path:
    """The project's own TextAttack cache dir, with the marker that disables import-time downloads."""
    cache = fedrobust_home() / "textattack"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / POST_INSTALL_MARKER).touch()
    return cache


@contextlib.contextmanager
def _environment_restored(names: tuple[str, ...]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def textattack_quiet() -> Iterator[None]:
    """No downloads and no compatibility chatter while TextAttack objects are built."""
    logger = logging.getLogger("textattack.shared.utils.install")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with nltk_downloads_blocked():
            yield
    finally:
        logger.setLevel(level)


def import_textattack() -> ModuleType:
    """Import textattack with its offline resources ready (cached by Python after the first call)."""
    if "textattack" in sys.modules:
        return sys.modules["textattack"]
    if importlib.util.find_spec("textattack") is None:
        raise ResourceUnavailableError("textattack is not installed; run `pip install textattack==0.3.11`")
    prepare_nltk()
    cache_dir = textattack_cache_dir()
    try:
        with _environment_restored(_CACHE_ENV_VARS + ("TA_CACHE_DIR",)), nltk_downloads_blocked():
            os.environ["TA_CACHE_DIR"] = str(cache_dir)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*PYTORCH_TRANSFORMERS_CACHE.*")
                module = importlib.import_module("textattack")
    except LookupError as exc:  # an NLTK corpus was not found
        raise ResourceUnavailableError(f"textattack could not find an NLTK corpus: {exc}") from exc
    return module
