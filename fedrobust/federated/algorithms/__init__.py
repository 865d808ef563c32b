"""Federated algorithms by name."""

from fedrobust.federated.algorithms.base import Algorithm, ClientCall
from fedrobust.federated.algorithms.ditto import Ditto
from fedrobust.federated.algorithms.fedavg import FedAvg
from fedrobust.federated.algorithms.fedavg_finetune import FedAvgFineTune
from fedrobust.federated.algorithms.fedprox import FedProx
from fedrobust.federated.algorithms.fedrep import FedRep
from fedrobust.federated.algorithms.local_only import LocalOnly
from fedrobust.federated.algorithms.robust_student import RobustStudent
from fedrobust.registry import Registry

ALGORITHMS: Registry[Algorithm] = Registry("federated algorithm")
for _algorithm in (FedAvg(), FedAvgFineTune(), FedProx(), Ditto(), FedRep(), LocalOnly(), RobustStudent()):
    ALGORITHMS.register(_algorithm.name)(_algorithm)

__all__ = ["ALGORITHMS", "Algorithm", "ClientCall"]
