"""A section's ``path`` key: an artifact the user made earlier stands in for a stage."""

from __future__ import annotations

from pathlib import Path

from fedrobust.errors import ConfigError
from fedrobust.pipeline.store import directory_digest


def provided_folder(section: str, path: str) -> Path:
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"config key {section}.path: {path} is not a folder")
    return folder


def provided_inputs(section: str, path: str) -> dict[str, str]:
    folder = provided_folder(section, path)
    return {"path": str(folder), "content": directory_digest(folder)}
