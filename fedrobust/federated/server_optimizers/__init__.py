"""Server optimizers by name: Flower's own FedAvgM, FedAdam, FedYogi and FedAdagrad as a step over
the round's averaged update, for any algorithm (``server_optimizer: {fedadam: {eta: 0.01}}``).
Importing this package imports every module in it; each registers its optimizer
(fedrobust.federated.server_optimizers.base)."""

import importlib
import pkgutil

from fedrobust.federated.server_optimizers.base import (
    SERVER_OPTIMIZERS,
    ServerStep,
    parse_server_optimizer,
    register_server_optimizer,
    with_server_optimizer,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SERVER_OPTIMIZERS", "ServerStep", "parse_server_optimizer", "register_server_optimizer",
           "with_server_optimizer"]
