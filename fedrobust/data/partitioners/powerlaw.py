"""Power-law client sizes: a few large clients and a long tail of small ones, as on real phones.

Every client first gets ``min_samples`` rows; the rest are spread with weights drawn from a
Pareto distribution of shape ``alpha`` (smaller alpha: heavier tail). Rows are assigned by
flwr-datasets' SizePartitioner after a seeded shuffle, so labels are IID across clients.
"""

from __future__ import annotations

import datasets
import numpy as np
from flwr_datasets.partitioner import SizePartitioner

from fedrobust.data.partitioners.base import PartitionOptions, indices_from_flower, shuffled_rows


def powerlaw_sizes(total: int, options: PartitionOptions) -> list[int]:
    rng = np.random.default_rng(options.seed)
    base = options.min_samples * options.num_clients
    weights = rng.pareto(options.alpha, size=options.num_clients) + 1.0
    extra = rng.multinomial(total - base, weights / weights.sum())
    return (extra + options.min_samples).tolist()


def powerlaw_partition(dataset: datasets.Dataset, options: PartitionOptions) -> dict[str, list[int]]:
    sizes = powerlaw_sizes(len(dataset), options)
    partitioner = SizePartitioner(partition_sizes=sizes)
    return indices_from_flower(shuffled_rows(dataset, options.seed), partitioner, options.num_clients)
