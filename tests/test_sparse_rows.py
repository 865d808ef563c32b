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
