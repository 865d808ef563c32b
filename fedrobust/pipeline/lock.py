"""One writer per run folder at a time: `fedrobust run`, `simulate --out`, `search --out`, `search-test`
and `data prepare --out` each hold the folder's lock while they write into it.

The lock is an ``fcntl.flock`` on a file that names its holder while it is held. flock locks belong
to an open file description, so a process that takes the lock of a folder it already holds is
refused too; nested locks on different folders (a run folder and a stage folder inside it) are fine.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

from fedrobust.errors import ConfigError

LOCK_FILE = ".lock"
CHOOSE_ANOTHER = "wait for it or choose another --out"


def sibling_lock_path(folder: Path) -> Path:
    """For folders that are replaced as a whole (``data prepare`` swaps in a new folder): a lock beside
    the folder, which outlives the swap."""
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def run_folder_lock(run_dir: Path, command: str = "fedrobust run", lock_path: Path | None = None,
                    fix: str = CHOOSE_ANOTHER) -> Iterator[None]:
    """Hold ``run_dir``'s lock (``run_dir/.lock`` unless ``lock_path`` says otherwise) as ``command``;
    a ConfigError naming the holder's command and pid when another writer holds it."""
    lock_path = lock_path or run_dir / LOCK_FILE
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ConfigError(f"{run_dir} is in use by {holder}; {fix}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{command} (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # the file names a holder only while one holds it
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
