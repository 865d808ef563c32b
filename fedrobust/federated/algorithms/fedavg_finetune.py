"""FedAvg from scratch, then each device fine-tunes the global model on its own data."""

from fedrobust.federated.algorithms.base import Algorithm
from fedrobust.federated.algorithms.registry import register_algorithm


@register_algorithm
class FedAvgFineTune(Algorithm):
    name = "fedavg_ft"
    personalizes = True
