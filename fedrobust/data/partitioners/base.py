"""The partitioner contract: rows of a dataset -> disjoint per-client row indices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import datasets
from flwr_datasets.partitioner import Partitioner as FlowerPartitioner

ROW = "__row__"


@dataclass(frozen=True)
class PartitionOptions:
    num_clients: int = 100
    alpha: float = 0.5
    classes_per_client: int = 2
    min_samples: int = 2
    seed: int = 0


# A partitioner returns {client_id: [row indices]}; together the lists cover every row once.
PartitionFn = Callable[[datasets.Dataset, PartitionOptions], dict[str, list[int]]]


def client_names(count: int) -> list[str]:
    width = max(5, len(str(count - 1)))
    return [f"client_{i:0{width}d}" for i in range(count)]


def indices_from_flower(dataset: datasets.Dataset, partitioner: FlowerPartitioner, num_clients: int) -> dict[str, list[int]]:
    """Run a flwr-datasets partitioner and read back which original rows each partition got."""
    partitioner.dataset = dataset.select_columns([ROW, "label"]) if ROW in dataset.column_names else (
        dataset.add_column(ROW, list(range(len(dataset)))).select_columns([ROW, "label"])
    )
    return {
        name: partitioner.load_partition(i)[ROW]
        for i, name in enumerate(client_names(num_clients))
    }


def shuffled_rows(dataset: datasets.Dataset, seed: int) -> datasets.Dataset:
    """The dataset's rows (row index and label only) in a seeded random order."""
    slim = dataset.select_columns(["label"]).add_column(ROW, list(range(len(dataset))))
    return slim.shuffle(seed=seed).flatten_indices()
