"""Train replies that carry only the rows of a table a device changed.

A device that trains with compact embedding rows (fedrobust.models.compact_rows) changes only
the rows of the embedding table its texts reach: a few dozen of tens of thousands, while the table
is most of the model's bytes. Its reply then carries, for such a table, the changed rows' indices
and values instead of the whole table, and the server rebuilds the table from the weights it sent
that round. The rebuilt arrays are bit for bit the device's (rows are compared by their bytes, so
-0.0 against 0.0 and NaNs count as changes), so aggregation, round DP and every result are what
they were with whole tables; only the bytes through Ray and the driver's memory shrink.
"""

from __future__ import annotations

import numpy as np
from flwr.app import Array, ArrayRecord, Message, RecordDict

ROWS = "@changed-rows"  # int64 indices of the changed rows of the array named before the suffix
VALUES = "@row-values"  # those rows
MIN_ROWS = 256  # smaller arrays travel whole: their bytes do not matter
MAX_CHANGED_SHARE = 0.5  # above it the indices cost more than they save


def _bits(values: np.ndarray) -> np.ndarray:
    """The array's rows as unsigned integers of the same width: equality of these is equality of bytes."""
    rows = np.ascontiguousarray(values).reshape(values.shape[0], -1)
    return rows.view(np.dtype(f"u{values.dtype.itemsize}")) if values.dtype.itemsize in (1, 2, 4, 8) else rows


def sparse_update(local: ArrayRecord, received: ArrayRecord | None) -> ArrayRecord:
    """``local`` with each large table that changed in few rows (against ``received``, the weights the
    round sent) replaced by its changed rows; the keys keep their order."""
    if received is None:
        return local
    out = ArrayRecord()
    for key in local.keys():
        array = local[key].numpy()
        sent = received[key].numpy() if key in received else None
        if sent is None or array.ndim < 2 or array.shape[0] < MIN_ROWS or sent.shape != array.shape \
                or sent.dtype != array.dtype:
            out[key] = local[key]
            continue
        changed = np.flatnonzero((_bits(array) != _bits(sent)).any(axis=1))
        if len(changed) > MAX_CHANGED_SHARE * array.shape[0]:
            out[key] = local[key]
            continue
        out[key + ROWS] = Array(changed.astype(np.int64))
        out[key + VALUES] = Array(np.ascontiguousarray(array[changed]))
    return out


def dense_update(reply: ArrayRecord, received: ArrayRecord) -> ArrayRecord:
    """The device's whole arrays from a ``sparse_update`` reply and the weights the round sent."""
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
        table = received[name].numpy().copy()
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
        for key in list(content.array_records.keys()):
            if key.endswith(".arrays"):
                content[key] = dense_update(content[key], message.content["arrays"])
