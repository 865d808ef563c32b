"""A phase's per-device progress, which the server sees before any reply arrives.

A node answers once, after all the devices its message names (a cohort of hundreds, see
fedrobust.federated.cohorts). To tell a node that is working from one that stopped, each node
appends a line to the phase's log under the run directory when it has loaded a message's model
(``-1``) and every time one of its devices is done (failed devices included); the server reads the
log's size. Where the run directory is not shared
with the nodes (a Ray cluster without a shared file system) the log stays empty and the server goes
by replies alone.
"""

from __future__ import annotations

import os
from pathlib import Path

PROGRESS_LOG_KEY = "progress-log"  # in a message's ConfigRecord: the file a node appends to
PROGRESS_DIR = "progress"


class ProgressLog:
    """The server's side: a fresh log per phase, and how far it has grown."""

    def __init__(self, run_dir: Path, phase: str) -> None:
        self.path = Path(run_dir).resolve() / PROGRESS_DIR / f"{phase}.log"

    def start(self) -> "ProgressLog":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)  # a resumed run's leftovers are not progress
        return self

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0


def note_progress(path: str, device: int) -> None:
    """The node's side: one line per finished device, -1 for a message started (an append of a few
    bytes is atomic)."""
    if not path:
        return
    try:
        handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:  # progress is a hint: a node that cannot write it is judged by its reply
        return
    try:
        os.write(handle, f"{device}\n".encode())
    finally:
        os.close(handle)
