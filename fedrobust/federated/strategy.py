"""Flower strategies with reproducible device sampling and aggregation order.

Flower samples nodes with ``random.sample`` over node ids that are random per run, and
averages replies in arrival order. For the same seed to give the same per-client results (also
when a killed run resumes, and whatever the number of devices per node) we sample over device
ids with a per-round seed, send each node the sampled devices it hosts, and aggregate the
per-device records sorted by device id with Flower's own FedAvg arithmetic.

A strategy that sends more than the weights (SCAFFOLD's server control variate) adds records to
every train message (``train_records``) and reads the devices' extra records before averaging
(``aggregate_devices``); state it carries between rounds travels through checkpoints as arrays
(``state_arrays`` / ``restore_state_arrays``).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

from fedrobust.federated.cohorts import DEVICES_KEY, unpack_reply
from fedrobust.federated.sparse_rows import weighted_mean
from fedrobust.seeding import derive_seed


class SeededSampling:
    """Mixin for Flower's FedAvg family; set ``devices_of`` (node id -> its device ids) first."""

    seed: int = 0
    devices_of: dict[int, list[int]]
    uniform_weights: bool = False  # every device's update counts once (DP rounds: fedrobust.privacy.round_dp sets it)

    def sample_devices(self, server_round: int) -> list[int]:
        devices = sorted(d for ds in self.devices_of.values() for d in ds)
        count = min(len(devices), max(int(len(devices) * self.fraction_train), self.min_train_nodes))
        rng = np.random.default_rng(derive_seed(self.seed, "sample", server_round))
        return [devices[i] for i in sorted(rng.choice(len(devices), size=count, replace=False).tolist())]

    def train_records(self, server_round: int) -> dict[str, ArrayRecord]:
        """Records every train message carries beside the weights and the config; none here."""
        return {}

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        self.sent = arrays  # what sparse replies are read against
        chosen = set(self.sample_devices(server_round))
        config["server-round"] = server_round
        extra = self.train_records(server_round)
        messages = []
        for node, devices in sorted(self.devices_of.items(), key=lambda item: item[1][0]):
            sampled = [d for d in devices if d in chosen]
            if sampled:
                node_config = ConfigRecord({**config, DEVICES_KEY: sampled})
                record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: node_config, **extra})
                messages.append(Message(record, message_type=MessageType.TRAIN, dst_node_id=node))
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        per_device = {}
        for reply in replies:
            per_device.update(unpack_reply(reply.content)[0])
        return self.aggregate_devices(server_round, {d: per_device[d] for d in sorted(per_device)})

    def aggregate_devices(self, server_round: int,
                          per_device: dict[int, RecordDict]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The average of the devices' weights (each device's record: {"arrays", "metrics"}), in device order."""
        contents = list(per_device.values())
        if not contents:
            return None, None
        if self.uniform_weights:
            arrays = mean_arrayrecords(contents)
        elif self.reads_sparse_replies():
            arrays = weighted_mean(contents, self.weighted_by_key, self.sent)
        else:
            arrays = aggregate_arrayrecords(contents, self.weighted_by_key)
        return arrays, self.train_metrics_aggr_fn(contents, self.weighted_by_key)

    def reads_sparse_replies(self) -> bool:
        """Whether ``aggregate_train`` takes replies as devices sent them, tables as changed rows
        (fedrobust.federated.sparse_rows): the plain weighted mean does; a strategy that reads the
        devices' arrays its own way (SCAFFOLD, a wrapper, equal weights) gets whole tables."""
        return (not self.uniform_weights and getattr(self, "sent", None) is not None
                and type(self).aggregate_train is SeededSampling.aggregate_train
                and type(self).aggregate_devices is SeededSampling.aggregate_devices)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Arrays the strategy carries from one round to the next, for the checkpoint; none here."""
        return {}

    def restore_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from a checkpoint's ``state_arrays``."""


def reads_sparse_replies(strategy) -> bool:
    """Whether the server may hand ``strategy`` the train replies as the devices sent them (only the
    changed rows of large tables); wrappers (round DP, server optimizers) get whole tables."""
    return isinstance(strategy, SeededSampling) and strategy.reads_sparse_replies()


def mean_arrayrecords(contents: list[RecordDict]) -> ArrayRecord:
    """The unweighted mean of each reply's (single) ArrayRecord."""
    records = [next(iter(c.array_records.values())) for c in contents]
    return ArrayRecord({key: Array(np.mean([r[key].numpy() for r in records], axis=0)) for key in records[0].keys()})


class SeededFedAvg(SeededSampling, FedAvg):
    def __init__(self, *, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed, self.devices_of = seed, {}
