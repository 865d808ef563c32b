"""FedAvg from scratch (McMahan et al. 2017): the baseline. No personalization."""

from fedrobust.federated.algorithms.base import Algorithm
from fedrobust.federated.algorithms.registry import register_algorithm


@register_algorithm
class FedAvg(Algorithm):
    name = "fedavg"
    personalizes = False
