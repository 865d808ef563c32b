"""Flower strategies with reproducible client sampling and aggregation order.

Flower samples nodes with ``random.sample`` over node ids that are random per run, and
averages replies in arrival order. For the same seed to give the same per-client results (also
when a killed run resumes) we sample over partition ids with a per-round seed and aggregate
replies sorted by partition id. Everything else is Flower's FedAvg / FedProx.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedProx

from fedrobust.federated.transport import derive_seed


class SeededSampling:
    """Mixin for Flower's FedAvg family; set ``partition_of`` (node id -> partition id) first."""

    seed: int = 0
    partition_of: dict[int, int]

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        nodes = sorted(self.partition_of, key=self.partition_of.__getitem__)
        count = min(len(nodes), max(int(len(nodes) * self.fraction_train), self.min_train_nodes))
        rng = np.random.default_rng(derive_seed(self.seed, "sample", server_round))
        chosen = sorted(rng.choice(len(nodes), size=count, replace=False).tolist())
        config["server-round"] = server_round
        if hasattr(self, "proximal_mu"):
            config["proximal-mu"] = self.proximal_mu
        record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
        return self._construct_messages(record, [nodes[i] for i in chosen], MessageType.TRAIN)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        ordered = sorted(replies, key=lambda m: self.partition_of.get(m.metadata.src_node_id, -1))
        return super().aggregate_train(server_round, ordered)


class SeededFedAvg(SeededSampling, FedAvg):
    def __init__(self, *, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed, self.partition_of = seed, {}


class SeededFedProx(SeededSampling, FedProx):
    def __init__(self, *, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed, self.partition_of = seed, {}
