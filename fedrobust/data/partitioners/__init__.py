"""Partitioners by name."""

from fedrobust.data.partitioners.base import PartitionFn, PartitionOptions
from fedrobust.data.partitioners.dirichlet import dirichlet_partition
from fedrobust.data.partitioners.iid import iid_partition
from fedrobust.data.partitioners.inner_dirichlet import inner_dirichlet_partition
from fedrobust.data.partitioners.natural import natural_partition
from fedrobust.data.partitioners.pathological import pathological_partition
from fedrobust.data.partitioners.powerlaw import powerlaw_partition
from fedrobust.registry import Registry

PARTITIONERS: Registry[PartitionFn] = Registry("partitioner")
PARTITIONERS.register("natural")(natural_partition)
PARTITIONERS.register("iid")(iid_partition)
PARTITIONERS.register("dirichlet")(dirichlet_partition)
PARTITIONERS.register("inner_dirichlet")(inner_dirichlet_partition)
PARTITIONERS.register("powerlaw")(powerlaw_partition)
PARTITIONERS.register("pathological")(pathological_partition)

__all__ = ["PARTITIONERS", "PartitionOptions"]
