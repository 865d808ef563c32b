"""Train replies that carry only the rows of a table a device changed.

A device that trains with compact embedding rows (fedrobust.models.compact_rows) changes only
the rows of the embedding table its texts reach: a few dozen of tens of thousands, while the table
is most of the model's bytes. Its reply then carries, for such a table, the changed rows' indices
and values instead of the whole table, and the server rebuilds the table from the weights it sent
that round. The rebuilt arrays are bit for bit the device's (rows are compared by their bytes, so
-0.0 against 0.0 and NaNs count as changes), so aggregation, round DP and every result are what
they were with whole tables; only the bytes through Ray and the driver's memory shrink.

The plain weighted mean does not rebuild the tables at all (``weighted_mean``): it runs Flower's
arithmetic row by row, so it gives the same bits without a whole table per device.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from flwr.app import Array, ArrayRecord, Message, RecordDict

ROWS = "@changed-rows"  # int64 indices of the changed rows of the array named before the suffix
VALUES = "@row-values"  # those rows
MIN_ROWS = 256  # smaller arrays travel whole: their bytes do not matter
MAX_CHANGED_SHARE = 0.5  # above it the indices cost more than they save
BLOCK_BYTES = 1 << 19  # rows of a table summed at once by weighted_mean: its running sum stays in cache


def _bits(values: np.ndarray) -> np.ndarray:
    """The array's rows as unsigned integers of the same width: equality of these is equality of bytes."""
    rows = np.ascontiguousarray(values).reshape(values.shape[0], -1)
    return rows.view(np.dtype(f"u{values.dtype.itemsize}")) if values.dtype.itemsize in (1, 2, 4, 8) else rows


def sparse_update(local: ArrayRecord, received: ArrayRecord | None) -> ArrayRecord:
    """``local`` with each large table that changed in few rows (against ``received``, the weights the
    round sent) replaced by its changed rows; the keys keep their order."""
    if received is None:
        return local
    return sparse_state_update({key: local[key].numpy() for key in local.keys()}, received, {})


def sparse_state_update(local: Mapping[str, np.ndarray], received: ArrayRecord, sent_tables: dict[str, np.ndarray]
                        ) -> ArrayRecord:
    """``sparse_update`` of a device's arrays as numpy (e.g. its model's state), not yet in an
    ArrayRecord: a whole table is never serialized. ``sent_tables`` caches the received tables as
    numpy across the devices of a message (an Array holds bytes, read anew on every ``numpy()``)."""
    out = ArrayRecord()
    for key, array in local.items():
        sent = _sent_table(key, array, received, sent_tables)
        if sent is None:
            out[key] = Array(np.ascontiguousarray(array))
            continue
        changed = np.flatnonzero((_bits(array) != _bits(sent)).any(axis=1))
        if len(changed) > MAX_CHANGED_SHARE * array.shape[0]:
            out[key] = Array(np.ascontiguousarray(array))
            continue
        out[key + ROWS] = Array(changed.astype(np.int64))
        out[key + VALUES] = Array(np.ascontiguousarray(array[changed]))
    return out


def _sent_table(key: str, array: np.ndarray, received: ArrayRecord, cache: dict[str, np.ndarray]) -> np.ndarray | None:
    """The received counterpart of a large table ``array`` (same shape and dtype), else None."""
    if array.ndim < 2 or array.shape[0] < MIN_ROWS or key not in received:
        return None
    sent = _read_once(received, key, cache)
    return sent if sent.shape == array.shape and sent.dtype == array.dtype else None


def _read_once(record: ArrayRecord, key: str, cache: dict[str, np.ndarray]) -> np.ndarray:
    """``record[key].numpy()``, decoded once per ``cache`` (an Array holds bytes, decoded on every call)."""
    if key not in cache:
        cache[key] = record[key].numpy()
    return cache[key]


def dense_update(reply: ArrayRecord, received: ArrayRecord, sent_tables: dict[str, np.ndarray] | None = None
                 ) -> ArrayRecord:
    """The device's whole arrays from a ``sparse_update`` reply and the weights the round sent
    (``sent_tables``: their tables already decoded, shared by the devices of one message)."""
    if not any(key.endswith(ROWS) for key in reply.keys()):
        return reply
    out = ArrayRecord()
    for key in reply.keys():
        if key.endswith(VALUES):
            continue
        if not key.endswith(ROWS):
            out[key] = reply[key]
            continue
        name = key[: -len(ROWS)]
        table = _read_once(received, name, {} if sent_tables is None else sent_tables).copy()
        table[reply[key].numpy()] = reply[name + VALUES].numpy()
        out[name] = Array(table)
    return out


def expand_replies(sent: list[Message], replies: list[Message | None]) -> None:
    """Rebuild, in place, every device's weights (the ``device-<id>.arrays`` records of cohort
    replies) from the weights its message carried."""
    for message, reply in zip(sent, replies):
        if reply is None or reply.has_error() or "arrays" not in message.content:
            continue
        content: RecordDict = reply.content
        sent_tables: dict[str, np.ndarray] = {}
        for key in list(content.array_records.keys()):
            if key.endswith(".arrays"):
                content[key] = dense_update(content[key], message.content["arrays"], sent_tables)


def weighted_mean(contents: list[RecordDict], weight_key: str, sent: ArrayRecord, *, block_rows: int | None = None
                  ) -> ArrayRecord:
    """What Flower's ``aggregate_arrayrecords`` gives for the devices' whole arrays, from replies
    that may carry only changed rows (``sparse_update``, against ``sent``), without rebuilding any
    table: the same float32 products ``array * (weight / total)`` summed in the same order, element
    by element, so the bits are the same. A table is summed in blocks of rows (``block_rows``;
    default about half a MiB, so a block's running sum stays in cache while every device is added to
    it): 1.4x faster than a pass over the whole table per device (simulations/aggregation_benchmark.py).
    (Threads over blocks gave nothing on a quiet 2-core machine: the sum is bound by memory.)"""
    weights = [float(next(iter(c.metric_records.values()))[weight_key]) for c in contents]
    total = sum(weights)
    factors = [weight / total for weight in weights]
    terms: dict[str, list[np.ndarray | tuple[np.ndarray, np.ndarray]]] = {}  # per device: whole, or (rows, values)
    for content in contents:
        for record in content.array_records.values():
            for key in record.keys():
                if key.endswith(VALUES):
                    continue
                if key.endswith(ROWS):
                    name = key[: -len(ROWS)]
                    terms.setdefault(name, []).append(_sorted_rows(record[key].numpy(), record[name + VALUES].numpy()))
                else:
                    terms.setdefault(key, []).append(record[key].numpy())
    out: dict[str, np.ndarray] = {}
    for key, device_terms in terms.items():
        if len(device_terms) != len(factors):
            raise ValueError(f"array {key!r} is missing from {len(factors) - len(device_terms)} of the replies")
        if all(isinstance(term, np.ndarray) for term in device_terms):
            out[key] = _sum_block(device_terms, factors, None, 0, None)
            continue
        unchanged = sent[key].numpy()
        step = block_rows or max(1, BLOCK_BYTES // max(1, unchanged[0].nbytes))
        result = np.empty_like(unchanged)
        for start in range(0, unchanged.shape[0], step):
            result[start:start + step] = _sum_block(device_terms, factors, unchanged, start, start + step)
        out[key] = result
    return ArrayRecord({key: Array(np.asarray(value)) for key, value in out.items()})


def _sorted_rows(rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) > 1 and np.any(rows[1:] < rows[:-1]):
        order = np.argsort(rows, kind="stable")
        return rows[order], values[order]
    return rows, values


def _sum_block(device_terms: list, factors: list[float], unchanged: np.ndarray | None, start: int,
               stop: int | None) -> np.ndarray:
    """Rows ``start:stop`` of sum_i factor_i * array_i, added device by device in order; a sparse
    term is ``unchanged`` (the sent table) with its changed rows replaced."""
    total: np.ndarray | None = None
    scratch = None
    for term, factor in zip(device_terms, factors):
        if isinstance(term, np.ndarray):
            product = (term if unchanged is None else term[start:stop]) * factor
            if total is None:
                total = product
            else:
                total += product
            continue
        rows, values = term
        low, high = np.searchsorted(rows, (start, stop))
        local, changed_values = rows[low:high] - start, values[low:high] * factor
        if scratch is None:
            scratch = np.empty_like(unchanged[start:stop])
        np.multiply(unchanged[start:stop], factor, out=scratch)
        if total is None:
            scratch[local] = changed_values
            total, scratch = scratch, None
        else:
            changed_so_far = total[local]  # a copy, taken before the unchanged rows are added
            total += scratch
            total[local] = changed_so_far + changed_values
    assert total is not None
    return total
