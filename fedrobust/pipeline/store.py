"""Stage outputs addressed by the hash of their inputs, so a re-run reuses what is finished.

``RUN_DIR/stages/<stage>/<fingerprint>/`` holds one stage's outputs; ``stage.json`` is written last,
so its presence marks a finished stage. A folder without it is an interrupted attempt: stages that
checkpoint themselves (the federated rounds) continue in it, the others start it afresh. Outputs of
other fingerprints stay until pruned, so switching a key back costs nothing. ``RUN_DIR/stages/shared/``
(SHARED_DIR) holds what stages of several fingerprints reuse (the teacher's attributions) and is
never pruned as stale.

A record names its outputs (``PATH_KEYS`` of its result) relative to the store's root, and they are
resolved against the root it is read from: a copied or moved run folder uses its own stages. Records
written before that name them absolutely, and are used as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from fedrobust.files import write_text_atomically
from fedrobust.pipeline.lock import LOCK_FILE

STAGE_RECORD = "stage.json"
SHARED_DIR = "shared"
PATH_KEYS = ("output", "model")  # the entries of a stage's result that name its artifacts
RECORD_TYPES = {"fingerprint": str, "started": str, "finished": str, "seconds": (int, float), "result": dict}


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def directory_digest(path: Path) -> str:
    """Content hash of a folder someone else made (small files by content, large ones by size and mtime)."""
    entries = []
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != LOCK_FILE):
        stat = file.stat()
        tag = hashlib.sha256(file.read_bytes()).hexdigest() if stat.st_size < 1 << 20 else f"{stat.st_size}:{stat.st_mtime_ns}"
        entries.append((str(file.relative_to(path)), tag))
    return fingerprint(entries)


def portable_paths(result: dict[str, Any], root: Path, keys: tuple[str, ...] = PATH_KEYS) -> dict[str, Any]:
    """``result`` with the paths under ``root`` named relative to it (others, e.g. a user's own data
    folder or a stage cache outside the run folder, stay absolute)."""
    portable = dict(result)
    for key in keys:
        value = portable.get(key)
        if isinstance(value, str) and Path(value).is_absolute() and Path(value).is_relative_to(root):
            portable[key] = Path(value).relative_to(root).as_posix()
    return portable


def resolved_paths(result: dict[str, Any], root: Path) -> dict[str, Any]:
    """``result`` with relative artifact paths made absolute against ``root`` (absolute ones stay)."""
    return {k: os.path.normpath(root / v) if k in PATH_KEYS and isinstance(v, str) else v for k, v in result.items()}


def record_problem(record: Any) -> str | None:
    """Why a parsed stage.json cannot be a finished stage's record; None when it can."""
    if not isinstance(record, dict):
        return f"it holds a JSON {type(record).__name__}, not an object"
    for key, types in RECORD_TYPES.items():
        value = record.get(key)
        if value is None:
            return f"field {key} is missing"
        if not isinstance(value, types) or isinstance(value, bool):
            return f"field {key} is a {type(value).__name__}"
    return None


@dataclass(frozen=True)
class StageSlot:
    stage: str
    fingerprint: str
    dir: Path
    root: Path  # the store's root, against which the record's paths are resolved

    @property
    def record_path(self) -> Path:
        return self.dir / STAGE_RECORD

    def finished(self) -> dict[str, Any] | None:
        """The record of this stage's finished outputs, or None; a damaged record counts as an
        interrupted attempt (the stage runs again) and says so."""
        if not self.record_path.is_file():
            return None
        try:
            record = json.loads(self.record_path.read_text())
            problem = record_problem(record)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"it is not readable JSON ({exc})"
        if problem is None and record["fingerprint"] != self.fingerprint:
            problem = f"field fingerprint is {record['fingerprint']}, not the folder's {self.fingerprint}"
        if problem is not None:
            print(f"  warning: {self.record_path} is damaged: {problem}; the stage runs again "
                  f"(delete {self.dir} if it keeps happening)", flush=True)
            return None
        return {**record, "result": resolved_paths(record["result"], self.root)}

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Wait while another run computes this very stage (same fingerprint) in a shared cache."""
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.dir.parent / f".{self.fingerprint}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def start(self, keep_partial: bool) -> bool:
        """Make the folder ready; returns True when an interrupted attempt is continued."""
        partial = self.dir.exists() and any(self.dir.iterdir())
        if partial and not keep_partial:
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        return partial and keep_partial

    def finish(self, record: dict[str, Any]) -> None:
        record = {**record, "result": portable_paths(record["result"], self.root), "fingerprint": self.fingerprint}
        write_text_atomically(self.record_path, json.dumps(record, indent=2, default=str) + "\n")


class StageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def slot(self, stage: str, stage_fingerprint: str) -> StageSlot:
        return StageSlot(stage, stage_fingerprint, self.root / stage / stage_fingerprint, self.root)

    def previous_seconds(self, stage: str) -> float | None:
        """How long the latest finished attempt of this stage took, under any fingerprint."""
        records = []
        for record_path in (self.root / stage).glob(f"*/{STAGE_RECORD}"):
            try:
                records.append(json.loads(record_path.read_text()))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue
        records = [r for r in records if record_problem(r) is None]
        return max(records, key=lambda r: r["finished"])["seconds"] if records else None

    def stale(self, current: dict[str, str]) -> list[Path]:
        """Folders of fingerprints the current config no longer uses."""
        if not self.root.is_dir():
            return []
        return sorted(d for stage_dir in self.root.iterdir() if stage_dir.is_dir() and stage_dir.name != SHARED_DIR
                      for d in stage_dir.iterdir() if d.is_dir() and current.get(stage_dir.name) != d.name)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
