"""How a batched attack call runs: in shards side by side, each in batches of examples, with the
cyclic garbage collector paused.

Several shards of one attack call run at once, one thread each, each running torch on one core.

A batched attack on a small model spends about a third of its time in Python, which one thread
runs while the other cores wait (or spin). Splitting the examples into as many shards as torch
has intra-op threads and giving each shard a thread that runs torch single-threaded keeps every
core busy: torch releases the interpreter lock inside its kernels, so one shard's model runs
while another's Python does. The thread count stays what the caller gave torch.
"""

from __future__ import annotations

import contextlib
import gc
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

import torch

from fedrobust.attacks.randomness import Stream
from fedrobust.attacks.records import AttackRecord

# (texts, labels, each example's random stream) -> records; also what runs one batch
ShardRunner = Callable[[list[str], list[int], list[Stream]], list[AttackRecord]]

MIN_EXAMPLES_PER_SHARD = 32  # below this, a shard's fixed costs outweigh the second core


def shard_count(examples: int, threads: int) -> int:
    return max(1, min(threads, examples // MIN_EXAMPLES_PER_SHARD))


def run_sharded(
    runners: Sequence[ShardRunner], texts: Sequence[str], labels: Sequence[int], streams: Sequence[Stream]
) -> list[AttackRecord]:
    """Records in input order; ``runners[k]`` runs shard k (each with its own caches)."""
    count = len(runners)
    bounds = [len(texts) * k // count for k in range(count + 1)]
    if count == 1:
        return runners[0](list(texts), [int(y) for y in labels], list(streams))
    with _one_torch_thread(), ThreadPoolExecutor(max_workers=count, thread_name_prefix="attack-shard") as pool:
        futures = [
            pool.submit(run, list(texts[a:b]), [int(y) for y in labels[a:b]], list(streams[a:b]))
            for run, a, b in zip(runners, bounds[:-1], bounds[1:])
        ]
        return [record for future in futures for record in future.result()]


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_in_batches(
    run_batch: ShardRunner, texts: Sequence[str], labels: Sequence[int], streams: Sequence[Stream],
    examples_per_batch: int | None,
) -> list[AttackRecord]:
    """Records in input order, ``examples_per_batch`` examples at a time (None: all at once), with
    the cyclic GC paused."""
    step = examples_per_batch or max(len(texts), 1)
    records: list[AttackRecord] = []
    with cyclic_gc_paused():
        for start in range(0, len(texts), step):
            stop = start + step
            records.extend(run_batch(list(texts[start:stop]), [int(y) for y in labels[start:stop]], list(streams[start:stop])))
    return records


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The searches allocate millions of short lists; with WordNet loaded, every cyclic-GC pass
    walks its whole heap and took a third of the run. The searches build no reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
