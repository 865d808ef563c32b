"""Stage outputs addressed by the hash of their inputs, so a re-run reuses what is finished.

``RUN_DIR/stages/<stage>/<fingerprint>/`` holds one stage's outputs; ``stage.json`` is written last,
so its presence marks a finished stage. A folder without it is an interrupted attempt: stages that
checkpoint themselves (the federated rounds) continue in it, the others start it afresh. Outputs of
other fingerprints stay until pruned, so switching a key back costs nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from fedrobust.files import write_text_atomically

STAGE_RECORD = "stage.json"


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def directory_digest(path: Path) -> str:
    """Content hash of a folder someone else made (small files by content, large ones by size and mtime)."""
    entries = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        tag = hashlib.sha256(file.read_bytes()).hexdigest() if stat.st_size < 1 << 20 else f"{stat.st_size}:{stat.st_mtime_ns}"
        entries.append((str(file.relative_to(path)), tag))
    return fingerprint(entries)


@dataclass(frozen=True)
class StageSlot:
    stage: str
    fingerprint: str
    dir: Path

    @property
    def record_path(self) -> Path:
        return self.dir / STAGE_RECORD

    def finished(self) -> dict[str, Any] | None:
        if not self.record_path.is_file():
            return None
        try:
            record = json.loads(self.record_path.read_text())
        except json.JSONDecodeError:
            return None
        return record if record.get("fingerprint") == self.fingerprint else None

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
        write_text_atomically(self.record_path, json.dumps({**record, "fingerprint": self.fingerprint}, indent=2, default=str) + "\n")


class StageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def slot(self, stage: str, stage_fingerprint: str) -> StageSlot:
        return StageSlot(stage, stage_fingerprint, self.root / stage / stage_fingerprint)

    def previous_seconds(self, stage: str) -> float | None:
        """How long the latest finished attempt of this stage took, under any fingerprint."""
        records = []
        for record_path in (self.root / stage).glob(f"*/{STAGE_RECORD}"):
            try:
                records.append(json.loads(record_path.read_text()))
            except json.JSONDecodeError:
                continue
        records = [r for r in records if isinstance(r.get("seconds"), (int, float)) and r.get("finished")]
        return max(records, key=lambda r: r["finished"])["seconds"] if records else None

    def stale(self, current: dict[str, str]) -> list[Path]:
        """Folders of fingerprints the current config no longer uses."""
        if not self.root.is_dir():
            return []
        return sorted(d for stage_dir in self.root.iterdir() if stage_dir.is_dir()
                      for d in stage_dir.iterdir() if d.is_dir() and current.get(stage_dir.name) != d.name)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
