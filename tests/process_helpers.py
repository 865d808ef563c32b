"""Kill a real command at a chosen moment, for resume tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Callable


def sigkill_when(command: list[str], ready: Callable[[], bool], timeout_s: float = 600) -> None:
    """Start ``command`` in its own process group and SIGKILL the whole group once ``ready()``
    holds (or the command ends, or the timeout passes)."""
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while not ready() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
