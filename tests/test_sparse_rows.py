"""Train replies with only the changed rows of large tables rebuild the device's weights bit for bit."""

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, RecordDict

from fedrobust.federated.sparse_rows import MIN_ROWS, ROWS, VALUES, dense_update, expand_replies, sparse_update


def _record(**arrays) -> ArrayRecord:
    return ArrayRecord({k: Array(v) for k, v in arrays.items()})


def _sent_and_local():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(MIN_ROWS * 4, 8)).astype(np.float32)
    table[5, 3] = 0.0
    table[7, 0] = np.nan
    sent = _record(**{"embedding.weight": table, "gru.weight": rng.normal(size=(12, 8)).astype(np.float32),
                      "head.bias": rng.normal(size=3).astype(np.float32)})
    local_table = table.copy()
    local_table[[2, 900]] += 0.5  # two rows trained
    local_table[5, 3] = -0.0  # equal as numbers, not as bytes
    local = _record(**{"embedding.weight": local_table, "gru.weight": sent["gru.weight"].numpy() + 1,
                       "head.bias": sent["head.bias"].numpy()})
    return sent, local


def _same_bytes(a: ArrayRecord, b: ArrayRecord) -> bool:
    return list(a.keys()) == list(b.keys()) and all(
        a[k].numpy().dtype == b[k].numpy().dtype and a[k].numpy().tobytes() == b[k].numpy().tobytes() for k in a.keys())


def test_only_changed_rows_travel_and_the_table_is_rebuilt_bit_for_bit():
    sent, local = _sent_and_local()
    reply = sparse_update(local, sent)
    assert list(reply.keys()) == ["embedding.weight" + ROWS, "embedding.weight" + VALUES, "gru.weight", "head.bias"]
    assert reply["embedding.weight" + ROWS].numpy().tolist() == [2, 5, 900]  # NaN stays NaN: unchanged; -0.0 changed
    assert sum(reply[k].numpy().nbytes for k in reply.keys()) < 0.05 * sum(local[k].numpy().nbytes for k in local.keys())
    rebuilt = dense_update(reply, sent)
    assert _same_bytes(rebuilt, local)
    assert np.signbit(rebuilt["embedding.weight"].numpy()[5, 3])


def test_small_unchanged_or_mostly_changed_tables_travel_whole():
    sent, local = _sent_and_local()
    assert _same_bytes(sparse_update(local, None), local)
    everything = _record(**{k: local[k].numpy() + 1 for k in local.keys()})
    assert list(sparse_update(everything, sent).keys()) == list(local.keys())
    unchanged = sparse_update(sent, sent)
    assert unchanged["embedding.weight" + ROWS].numpy().size == 0 and _same_bytes(dense_update(unchanged, sent), sent)


def test_cohort_replies_are_expanded_in_place_against_their_own_message(flower_run_identity):
    sent, local = _sent_and_local()
    other_sent = _record(**{k: sent[k].numpy() * 2 for k in sent.keys()})
    messages = [Message(RecordDict({"arrays": arrays, "config": ConfigRecord({"devices": [d]})}),
                        message_type=MessageType.TRAIN, dst_node_id=1) for d, arrays in enumerate((sent, other_sent))]
    other_local = _record(**{k: other_sent[k].numpy() for k in other_sent.keys()})
    replies = [Message(RecordDict({f"device-{d}.arrays": sparse_update(arrays, m.content["arrays"])}), reply_to=m)
               for d, (arrays, m) in enumerate(zip((local, other_local), messages))]
    expand_replies(messages + messages[:1], replies + [None])  # an unanswered message is skipped
    assert _same_bytes(replies[0].content["device-0.arrays"], local)
    assert _same_bytes(replies[1].content["device-1.arrays"], other_local)


def _device_contents(sent: ArrayRecord, count: int) -> tuple[list[RecordDict], list[RecordDict]]:
    """(sparse replies, the same replies with whole tables) of ``count`` devices with unequal weights;
    one device changes most rows, so its table travels whole."""
    from flwr.app import MetricRecord

    rng = np.random.default_rng(1)
    sparse, dense = [], []
    for device in range(count):
        local = {k: sent[k].numpy().copy() for k in sent.keys()}
        table = local["embedding.weight"]
        share = 0.9 if device == 2 else 0.02
        rows = rng.choice(len(table), size=int(share * len(table)), replace=False)
        table[rows] += rng.normal(size=(len(rows), table.shape[1])).astype(np.float32)
        local["gru.weight"] += rng.normal(size=local["gru.weight"].shape).astype(np.float32)
        metrics = MetricRecord({"num-examples": int(rng.integers(1, 40)), "train-loss": 0.5})
        reply = sparse_update(_record(**local), sent)
        sparse.append(RecordDict({"arrays": reply, "metrics": metrics}))
        dense.append(RecordDict({"arrays": dense_update(reply, sent), "metrics": metrics}))
    assert any(k.endswith(ROWS) for k in sparse[0]["arrays"].keys())
    assert not any(k.endswith(ROWS) for k in sparse[2]["arrays"].keys())
    return sparse, dense


def test_weighted_mean_of_sparse_replies_is_flowers_mean_of_whole_tables_bit_for_bit():
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    from fedrobust.federated.sparse_rows import weighted_mean

    sent, _ = _sent_and_local()
    sparse, dense = _device_contents(sent, count=7)
    assert _same_bytes(weighted_mean(sparse, "num-examples", sent), aggregate_arrayrecords(dense, "num-examples"))
    # the first device's table whole, the later ones sparse: the same again
    mixed = [dense[0], *sparse[1:]]
    assert _same_bytes(weighted_mean(mixed, "num-examples", sent), aggregate_arrayrecords(dense, "num-examples"))
    # summed in blocks of rows that do not divide the table, or with unsorted row indices
    rows = len(sent["embedding.weight"].numpy())
    for block_rows in (1, 7, rows - 1, rows):
        assert _same_bytes(weighted_mean(mixed, "num-examples", sent, block_rows=block_rows),
                           aggregate_arrayrecords(dense, "num-examples"))
    shuffled = _with_rows_reversed(sparse[1])
    assert _same_bytes(weighted_mean([shuffled, *sparse[1:]], "num-examples", sent, block_rows=7),
                       aggregate_arrayrecords([dense[1], *dense[1:]], "num-examples"))


def _with_rows_reversed(content: RecordDict) -> RecordDict:
    arrays = ArrayRecord()
    for key in content["arrays"].keys():
        value = content["arrays"][key].numpy()
        arrays[key] = Array(np.ascontiguousarray(value[::-1]) if key.endswith((ROWS, VALUES)) else value)
    return RecordDict({"arrays": arrays, "metrics": content["metrics"]})


def test_only_the_plain_weighted_mean_reads_sparse_replies():
    from fedrobust.federated.algorithms.scaffold import ScaffoldStrategy
    from fedrobust.federated.strategy import SeededFedAvg, reads_sparse_replies

    sent, _ = _sent_and_local()
    plain = SeededFedAvg(fraction_evaluate=0.0)
    assert not reads_sparse_replies(plain)  # nothing sent yet
    plain.sent = sent
    assert reads_sparse_replies(plain)
    plain.uniform_weights = True
    assert not reads_sparse_replies(plain)
    scaffold = ScaffoldStrategy.__new__(ScaffoldStrategy)
    scaffold.sent, scaffold.uniform_weights = sent, False
    assert not reads_sparse_replies(scaffold)
    assert not reads_sparse_replies(object())
