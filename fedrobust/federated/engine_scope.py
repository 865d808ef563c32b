"""Config check of ``local.engine`` against the algorithm, made when the config is validated (before
any work starts): the stacked engine (fedrobust.federated.stacked_rounds) runs plain local training
of every weight only."""

from __future__ import annotations

from typing import Any

from fedrobust.config_schema import dotted
from fedrobust.errors import ConfigError

STACKED = "stacked"


def check_local_engine(settings: Any, algorithm: Any, algorithm_where: str, where: str = "") -> None:
    """Refuses ``local.engine: stacked`` for an algorithm or settings it cannot run. ``settings``: the
    federation's settings; ``algorithm``: the algorithm built from the entry at ``algorithm_where``."""
    if settings.local.engine != STACKED:
        return
    k = lambda key: dotted(where, key)  # noqa: E731
    if settings.local.adversarial:
        raise ConfigError(f"config key {k('local.engine')} stacked trains without an adversarial objective; set "
                          f"{k('local.adversarial')}: false or {k('local.engine')}: per_device")
    if algorithm.federated and not algorithm.trains_plainly():
        raise ConfigError(f"config key {k('local.engine')} stacked runs plain local training of every weight, but "
                          f"{algorithm_where} ({algorithm.name}) trains its own way; use {k('local.engine')}: per_device")
