"""Pathological non-IID partition (McMahan et al. 2017): each client holds a few classes only.

Delegates to flwr-datasets' PathologicalPartitioner.
"""

from __future__ import annotations

import datasets
from flwr_datasets.partitioner import PathologicalPartitioner

from fedrobust.data.partitioners.base import PartitionOptions, indices_from_flower, shuffled_rows
from fedrobust.errors import ConfigError


def pathological_partition(dataset: datasets.Dataset, options: PartitionOptions) -> dict[str, list[int]]:
    num_labels = dataset.features["label"].num_classes
    if not 1 <= options.classes_per_client <= num_labels:
        raise ConfigError(f"--classes-per-client must be between 1 and {num_labels}, got {options.classes_per_client}")
    partitioner = PathologicalPartitioner(
        num_partitions=options.num_clients,
        partition_by="label",
        num_classes_per_partition=options.classes_per_client,
        class_assignment_mode="first-deterministic",
        seed=options.seed,
    )
    return indices_from_flower(shuffled_rows(dataset, options.seed), partitioner, options.num_clients)
