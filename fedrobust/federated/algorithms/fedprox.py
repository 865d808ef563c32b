"""FedProx (Li et al. 2020): FedAvg with a proximal term mu/2 ||w - w_global||^2 in local training.

Flower's FedProx strategy sends ``proximal-mu`` each round; the device adds the term.
"""

from fedrobust.federated.algorithms.base import Algorithm
from fedrobust.federated.config import SimulationConfig
from fedrobust.federated.strategy import SeededFedProx


class FedProx(Algorithm):
    name = "fedprox"
    starts_from = "fresh"
    personalizes = False

    def aggregation_strategy(self, config: SimulationConfig):
        return SeededFedProx(fraction_train=config.fraction_train, min_train_nodes=config.min_train_clients,
                             fraction_evaluate=0.0, proximal_mu=config.local.proximal_mu, seed=config.seed)
