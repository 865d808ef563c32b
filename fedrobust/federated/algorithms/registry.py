"""Federated algorithms by name. An algorithm registers itself when its module is imported:

    @register_algorithm
    class MyAlgorithm(Algorithm):
        name = "my_algorithm"
        Params = MyParams      # a frozen dataclass: the algorithm's settings in configs

Every module of this package is imported with the package (its ``__init__``), so an algorithm
shipped here is one new file. An algorithm defined in a user's own module is registered when that
module is imported; simulation workers import it by name (``import_algorithm_module``) before
they read a config that names the algorithm.

This module imports no algorithm (and no config), so algorithm modules and the config schema can
both import it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from fedrobust.registry import Registry

ALGORITHMS: Registry[type] = Registry("federated algorithm")


def register_algorithm(cls: type) -> type:
    """Class decorator: register ``cls`` under ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__qualname__} needs a class attribute `name` to be registered")
    return ALGORITHMS.register(cls.name)(cls)


def algorithm_module(name: str) -> str:
    """The module that defines (and on import registers) the algorithm ``name``."""
    return ALGORITHMS.get(name).__module__


def import_algorithm_module(module: str) -> None:
    """Import the module that registers an algorithm, in a process that has not imported it yet."""
    if module and module not in sys.modules:
        importlib.import_module(module)


def build_algorithm(name: str, params: Any = None) -> Any:
    """An instance of the algorithm ``name`` with its (validated) params; None: the defaults."""
    return ALGORITHMS.get(name)(params)
