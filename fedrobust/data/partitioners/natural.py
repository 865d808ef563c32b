"""Natural partition: one client per owner (movie, Twitter user, LEAF user)."""

from __future__ import annotations

import datasets

from fedrobust.data.partitioners.base import PartitionOptions
from fedrobust.data.sources.base import OWNER
from fedrobust.errors import ConfigError


def natural_partition(dataset: datasets.Dataset, options: PartitionOptions) -> dict[str, list[int]]:
    if OWNER not in dataset.column_names:
        raise ConfigError(
            "--partition natural needs an owner column and this source has none; "
            "pass --owner-column NAME or use --partition iid/dirichlet/powerlaw/pathological"
        )
    clients: dict[str, list[int]] = {}
    for row, owner in enumerate(dataset[OWNER]):
        clients.setdefault(owner, []).append(row)
    return dict(sorted(clients.items()))
