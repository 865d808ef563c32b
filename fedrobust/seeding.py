"""Stable seeds derived from the run seed, and torch settings that make training reproducible.

Every random choice of a run (a device's training, its attacked sample, the devices a round samples,
DP noise) has its own seed, so results do not depend on the order in which work runs or on which
process runs it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Iterator

import torch

from fedrobust.errors import ConfigError

# Torch's CPU reductions (matmul blocking, per-thread partial sums) depend on the intra-op thread
# count, so one config trained with 1 and with 2 threads gives different weights. Training stages
# therefore take their thread count from the config, never from the machine or the process.
TRAINING_THREADS = 2


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from the run seed and e.g. the round and the client."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@contextlib.contextmanager
def reproducible_torch(threads: int) -> Iterator[None]:
    """Torch with ``threads`` intra-op threads and deterministic algorithms only (an op without a
    deterministic kernel raises instead of silently varying); the previous settings come back after."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic, warn_only=previous_warn_only)
        torch.set_num_threads(previous_threads)


def check_parallel_training(jobs: int, threads_per_job: int, cores: int | None = None) -> None:
    """Fail before starting ``jobs`` training processes of ``threads_per_job`` torch threads each when
    they ask for more threads than the machine has cores: torch's OpenMP threads spin at every
    barrier waiting for each other, so two 2-thread distill runs on 2 cores ran about 5x slower each
    than one alone (less work done than running them one after the other)."""
    cores = cores or os.cpu_count() or 1
    if jobs > 1 and jobs * threads_per_job > cores:
        raise ConfigError(f"{jobs} jobs of {threads_per_job} torch threads need {jobs * threads_per_job} cores and this "
                          f"machine has {cores}: use fewer jobs, or fewer threads per job (train.threads: the weights "
                          "depend on it, so results differ from the default's)")
