"""IID partition: a seeded shuffle, then flwr-datasets' IidPartitioner (equal shards)."""

from __future__ import annotations

import datasets
from flwr_datasets.partitioner import IidPartitioner

from fedrobust.data.partitioners.base import PartitionOptions, indices_from_flower, shuffled_rows


def iid_partition(dataset: datasets.Dataset, options: PartitionOptions) -> dict[str, list[int]]:
    partitioner = IidPartitioner(num_partitions=options.num_clients)
    return indices_from_flower(shuffled_rows(dataset, options.seed), partitioner, options.num_clients)
