"""The final phase's kept replies: read back as written, never a failed device's, never across weights."""

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from fedrobust.federated.cohorts import pack_reply
from fedrobust.federated.evaluation_replies import EvaluationReplies, forget_evaluation_replies


def _weights(value: float) -> ArrayRecord:
    return ArrayRecord({"head.weight": Array(np.full((2, 3), value, dtype=np.float32))})


def _reply(devices: list[int], failed: dict[int, str] | None = None) -> RecordDict:
    metrics = {d: MetricRecord({"natural_acc": 0.5 + d / 100, "partition-id": d}) for d in devices if d not in (failed or {})}
    return pack_reply({}, metrics, failed or {})


def test_a_kept_reply_reads_back_as_written(tmp_path):
    store = EvaluationReplies(tmp_path, "abc", _weights(1.0))
    assert store.load([3, 4]) is None
    assert store.save([3, 4], _reply([3, 4]))
    back = store.load([3, 4])
    assert back["device-4.metrics"]["natural_acc"] == 0.54 and set(back.keys()) == set(_reply([3, 4]).keys())
    assert store.load([3]) is None and store.load([4, 3]) is None  # another device list is another message
    assert not list(store.dir.glob("*.partial"))


def test_a_reply_with_a_failed_device_is_not_kept(tmp_path):
    store = EvaluationReplies(tmp_path, "abc", _weights(1.0))
    assert not store.save([3, 4], _reply([3, 4], failed={4: "RuntimeError: boom"}))
    assert store.load([3, 4]) is None


def test_other_weights_or_config_do_not_see_the_kept_replies_and_damage_costs_only_that_node(tmp_path):
    store = EvaluationReplies(tmp_path, "abc", _weights(1.0))
    store.save([3, 4], _reply([3, 4]))
    assert EvaluationReplies(tmp_path, "abc", _weights(2.0)).load([3, 4]) is None
    assert EvaluationReplies(tmp_path, "xyz", _weights(1.0)).load([3, 4]) is None
    next(store.dir.glob("*.pb")).write_bytes(b"\x00 not a record")
    assert store.load([3, 4]) is None
    forget_evaluation_replies(tmp_path)
    assert not (tmp_path / "evaluation_replies").exists()


def test_config_records_survive(tmp_path):
    store = EvaluationReplies(tmp_path, "abc", _weights(1.0))
    content = _reply([7])
    content["extra"] = ConfigRecord({"note": "kept"})
    store.save([7], content)
    assert store.load([7])["extra"]["note"] == "kept"
