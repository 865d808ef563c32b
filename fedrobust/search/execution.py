"""Where a search's trials (candidate evaluations, final re-trainings) run.

    execution:
      backend: local           # local: in this process, one after another; ray: Ray tasks
      ray_address: null        # ray only. null: a private Ray instance on this machine;
                               # "auto" or "host:port": an existing cluster (`ray start --head`)
      max_parallel: 4          # ray only: trials in flight at once
      num_cpus_per_trial: 1    # ray only: CPUs Ray reserves for each trial

Both backends run a trial the same way (:func:`run_trial`): torch with the search's ``threads``
intra-op threads and deterministic algorithms (fedrobust.seeding.reproducible_torch), every seed
taken from the config. A trial's result therefore does not depend on the backend, the node, the
worker process or the order in which trials finish, and the strategies decide only on whole
batches, returned in the order they were proposed (fedrobust.search.archive).

A Ray trial writes its artifacts into a temporary folder on its node and returns them (a student
folder is kilobytes to a few megabytes) with its result; the driver writes them under OUT. So only
the driver needs OUT, but every node must read the data and teacher folders at the paths in the
config (a shared filesystem, or the same copy on every node). A Ray worker process keeps the
evaluator it was sent (and the data and teacher outputs it loaded) for the next trial of the same
search (:func:`worker_local`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Protocol, Sequence

from fedrobust.config_schema import AT_LEAST_ONE, POSITIVE, Limit, check_all, check_limits, dotted
from fedrobust.seeding import reproducible_torch

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


@dataclass
class ExecutionSection:
    backend: str = "local"
    ray_address: str | None = None
    max_parallel: int = 1
    num_cpus_per_trial: float = 1.0

    LIMITS: ClassVar[dict[str, Limit]] = {"max_parallel": AT_LEAST_ONE, "num_cpus_per_trial": POSITIVE}

    def validate(self, where: str = "execution") -> None:
        key = lambda name: dotted(where, name)  # noqa: E731
        check_limits(self, where)
        check_all([
            (self.backend in BACKENDS, f"{key('backend')} must be one of {', '.join(BACKENDS)}, got {self.backend!r}"),
            (self.backend == "ray" or self.ray_address is None,
             f"{key('ray_address')} needs {key('backend')}: ray (the local backend runs in this process)"),
            (self.backend == "ray" or self.max_parallel == 1,
             f"{key('max_parallel')} needs {key('backend')}: ray (the local backend runs one trial at a time)"),
        ])


@dataclass
class Trial:
    """``fn(*args, out_dir)``: a module-level function (a Ray worker imports it by name)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    out_dir: Path


class Executor(Protocol):
    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[int, Any]]:
        """(index, result) of every trial as it finishes; its artifacts are in its out_dir by then."""

    def close(self) -> None:
        """Release what the executor started."""


def run_trial(trial: Trial, threads: int, out_dir: Path | None = None) -> Any:
    with reproducible_torch(threads):
        return trial.fn(*trial.args, out_dir or trial.out_dir)


_WORKER_CACHE: dict[str, Any] = {}


def worker_local(token: str, value: Any) -> Any:
    """``value`` the first time ``token`` comes to this process, then that same object (one token kept)."""
    if token not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        _WORKER_CACHE[token] = value
    return _WORKER_CACHE[token]


class LocalExecutor:
    def __init__(self, threads: int) -> None:
        self.threads = threads

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[int, Any]]:
        for i, trial in enumerate(trials):
            trial.out_dir.mkdir(parents=True, exist_ok=True)
            yield i, run_trial(trial, self.threads)

    def close(self) -> None:
        pass


def _remote_trial(trial: Trial, threads: int) -> tuple[Any, dict[str, bytes]]:
    with tempfile.TemporaryDirectory(prefix="fedrobust-trial-") as tmp:
        result = run_trial(trial, threads, Path(tmp))
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return result, files


def write_files(out_dir: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


class RayExecutor:
    """At most ``max_parallel`` Ray tasks in flight, each reserving ``num_cpus_per_trial`` CPUs."""

    def __init__(self, section: ExecutionSection, threads: int) -> None:
        import ray

        self.section, self.threads = section, threads
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU trials: leave device variables alone
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
            if section.ray_address:
                ray.init(address=section.ray_address, **options)
            else:  # "local": a new instance, never a cluster that `ray start` left running on this machine
                ray.init(address="local", include_dashboard=False, **options)
        self._task = ray.remote(num_cpus=section.num_cpus_per_trial)(_remote_trial)
        if section.num_cpus_per_trial < threads:
            log.warning("execution.num_cpus_per_trial=%g is below threads=%d: each trial runs %d torch threads on "
                        "fewer reserved CPUs", section.num_cpus_per_trial, threads, threads)

    def map(self, trials: Sequence[Trial]) -> Iterator[tuple[int, Any]]:
        import ray

        queue = list(range(len(trials)))
        pending: dict[Any, int] = {}
        try:
            while queue or pending:
                while queue and len(pending) < self.section.max_parallel:
                    i = queue.pop(0)
                    pending[self._task.remote(trials[i], self.threads)] = i
                done, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(done[0])
                result, files = ray.get(done[0])
                write_files(trials[i].out_dir, files)
                yield i, result
        finally:
            for ref in pending:  # a failed or abandoned batch: stop the trials still running
                ray.cancel(ref, force=True)

    def close(self) -> None:
        import ray

        if self.started_ray and ray.is_initialized():
            ray.shutdown()


def make_executor(section: ExecutionSection, threads: int) -> Executor:
    return RayExecutor(section, threads) if section.backend == "ray" else LocalExecutor(threads)
