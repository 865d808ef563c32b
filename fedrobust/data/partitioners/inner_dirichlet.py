"""Label-skewed partition with equal device sizes: each device's own class proportions are drawn
from Dirichlet(alpha) and its texts are drawn class by class from what is left (a class that runs
out is dropped from the draw and the rest renormalized), as in Acar et al. 2021 ("Federated
Learning Based on Dynamic Regularization").

Delegates to flwr-datasets' InnerDirichletPartitioner. Unlike ``dirichlet`` (Dirichlet over the
devices for each class), every device gets the same number of texts (up to one more), so a small
alpha over many devices never leaves a device empty: airline_tweets over 1,000 devices at
alpha 0.3 works here and fails with ``dirichlet``.
"""

from __future__ import annotations

import datasets
from flwr_datasets.partitioner import InnerDirichletPartitioner

from fedrobust.data.partitioners.base import PartitionOptions, indices_from_flower, shuffled_rows
from fedrobust.errors import ConfigError


def equal_sizes(total: int, parts: int) -> list[int]:
    """``parts`` sizes summing to ``total``, differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def inner_dirichlet_partition(dataset: datasets.Dataset, options: PartitionOptions) -> dict[str, list[int]]:
    sizes = equal_sizes(len(dataset), options.num_clients)
    if sizes[-1] < options.min_samples:
        raise ConfigError(f"--partition inner_dirichlet gives each of {options.num_clients} clients about "
                          f"{len(dataset) // options.num_clients} of {len(dataset)} samples, below --min-samples "
                          f"{options.min_samples}; use fewer clients or a smaller --min-samples")
    partitioner = InnerDirichletPartitioner(partition_sizes=sizes, partition_by="label", alpha=options.alpha,
                                            shuffle=True, seed=options.seed)
    return indices_from_flower(shuffled_rows(dataset, options.seed), partitioner, options.num_clients)
