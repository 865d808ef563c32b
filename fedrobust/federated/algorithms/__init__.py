"""Federated algorithms by name: importing this package imports every module in it, and each
algorithm module registers its algorithm (fedrobust.federated.algorithms.registry)."""

import importlib
import pkgutil

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, NoParams
from fedrobust.federated.algorithms.registry import ALGORITHMS, build_algorithm, register_algorithm

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ALGORITHMS", "Algorithm", "ClientCall", "NoParams", "build_algorithm", "register_algorithm"]
