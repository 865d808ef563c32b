"""Label-skewed partition: each client's class proportions drawn from Dirichlet(alpha).

Delegates to flwr-datasets' DirichletPartitioner; small alpha means few classes per client.
That partitioner redraws only 10 times when a client ends up below ``min_samples``, which at
small alpha fails often, so we retry with derived seeds (still deterministic in ``seed``).
"""

from __future__ import annotations

import warnings

import datasets
from flwr_datasets.partitioner import DirichletPartitioner

from fedrobust.data.partitioners.base import PartitionOptions, indices_from_flower, shuffled_rows
from fedrobust.errors import ConfigError

SEED_RETRIES = 20


def dirichlet_partition(dataset: datasets.Dataset, options: PartitionOptions) -> dict[str, list[int]]:
    rows = shuffled_rows(dataset, options.seed)
    last_error = ""
    for attempt in range(SEED_RETRIES):
        partitioner = DirichletPartitioner(
            num_partitions=options.num_clients,
            partition_by="label",
            alpha=options.alpha,
            min_partition_size=options.min_samples,
            self_balancing=False,
            seed=options.seed + 7919 * attempt,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return indices_from_flower(rows, partitioner, options.num_clients)
        except ValueError as exc:
            last_error = str(exc)
    raise ConfigError(
        f"--partition dirichlet could not give every one of {options.num_clients} clients "
        f"{options.min_samples} samples with --alpha {options.alpha} ({last_error}); "
        f"use fewer clients, a larger --alpha or a smaller --min-samples"
    )
