"""Server aggregation of sparse-row replies: seconds for one round's weighted mean.

Synthetic replies shaped like the scale workload's (a 30,522 x 24 embedding table, each device
changing a few hundred rows, and a small dense array), ``--devices`` of them; every variant is
checked to give the same bits as the whole-table pass (one block: one pass over the whole table
per device) and as Flower's ``aggregate_arrayrecords`` on rebuilt tables. Run it on a quiet machine.

    python simulations/aggregation_benchmark.py --devices 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict
from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

from fedrobust.federated.sparse_rows import dense_update, sparse_update, weighted_mean


def replies(devices: int, rows: int, width: int, changed: int, seed: int) -> tuple[ArrayRecord, list[RecordDict]]:
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((rows, width)).astype(np.float32)
    head = rng.standard_normal((128, 96)).astype(np.float32)
    sent = ArrayRecord({"embedding": Array(table), "head": Array(head)})
    contents = []
    for _ in range(devices):
        local = table.copy()
        touched = rng.choice(rows, changed, replace=False)
        local[touched] += 0.01 * rng.standard_normal((changed, width)).astype(np.float32)
        moved = head + 0.01 * rng.standard_normal(head.shape).astype(np.float32)
        reply = sparse_update(ArrayRecord({"embedding": Array(local), "head": Array(moved)}), sent)
        contents.append(RecordDict({"arrays": reply, "metrics": MetricRecord({"num-examples": int(rng.integers(5, 30))})}))
    return sent, contents


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=30522)
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--changed", type=int, default=300, help="rows each device changes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sent, contents = replies(args.devices, args.rows, args.width, args.changed, args.seed)
    variants = {
        "one pass over the whole table per device": dict(block_rows=args.rows),
        "blocks of rows (default)": {},
    }
    reference = None
    medians: dict[str, float] = {}
    for label, options in variants.items():
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = weighted_mean(contents, "num-examples", sent, **options)
            seconds.append(time.perf_counter() - started)
        reference = reference or result
        same = all(np.array_equal(reference[k].numpy(), result[k].numpy()) for k in reference.keys())
        medians[label] = statistics.median(seconds)
        print(f"{label:45s} {medians[label]:7.3f} s (median of {args.repeats}), same bits: {same}")
    dense = [RecordDict({"arrays": dense_update(c["arrays"], sent), "metrics": c["metrics"]}) for c in contents]
    flower = aggregate_arrayrecords(dense, "num-examples")
    print("same bits as Flower's aggregate_arrayrecords on rebuilt tables:",
          all(np.array_equal(flower[k].numpy(), reference[k].numpy()) for k in flower.keys()))
    first, last = medians[next(iter(variants))], medians[list(variants)[-1]]
    print(f"speed-up of the default over the whole-table pass: {first / last:.2f}x ({args.devices} devices)")
    return medians


if __name__ == "__main__":
    main()
