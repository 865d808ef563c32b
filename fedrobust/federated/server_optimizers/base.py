"""A server optimizer: one of Flower's FedAvg-family strategies that turns the round's averaged
weights into a server step (FedAvgM, FedAdam, ...), over whatever strategy the algorithm and the
round-DP settings built.

Flower's optimizers remember the weights they sent in ``configure_train`` and compute their step
in ``aggregate_train`` from what ``FedAvg.aggregate_train`` returns. A registered optimizer is

    @register_server_optimizer
    class ServerFedAdam(ServerStep, FedAdam, AveragedByInner):
        name, Params = "fedadam", FedAdamParams

In that method order ``AveragedByInner`` sits between Flower's optimizer and FedAvg, so where the
optimizer calls FedAvg the wrapped strategy (``inner``) samples, sends and averages instead:
seeded device order (fedrobust.federated.strategy), an algorithm's own aggregation (SCAFFOLD's
control variates), and round DP, whose clipping and noise then apply to the mean *before* the
optimizer's step. That order matters: the noise is sized for the mean of clipped updates, and
the optimizer's step (nonlinear for the adaptive ones) is post-processing of the private mean.
With Flower's DP wrapper around the optimizer instead, the noise would be added after the step,
whose sensitivity to one device is not the one the noise was sized for.

``ServerStep`` (first in the order) keeps the step in the dtype of the weights sent (FedAdam's
bias-corrected step is float64) and carries the optimizer's state (``STATE``: momentum, m_t, v_t)
through checkpoints, so a resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fedrobust.config_schema import named_entry, validated
from fedrobust.errors import ConfigError
from fedrobust.registry import Registry

SERVER_OPTIMIZERS: Registry[type] = Registry("server optimizer")
KEY = "server_optimizer"


def register_server_optimizer(cls: type) -> type:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return SERVER_OPTIMIZERS.register(cls.name)(cls)


class AveragedByInner(FedAvg):
    """Below a Flower optimizer: FedAvg's sampling and averaging are the inner strategy's."""

    inner: Any = None

    @property
    def devices_of(self) -> dict[int, list[int]]:
        return self.inner.devices_of

    @devices_of.setter
    def devices_of(self, mapping: dict[int, list[int]]) -> None:
        self.inner.devices_of = mapping  # round DP builds its wrapper when it learns the devices

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        return self.inner.aggregate_train(server_round, replies)


class ServerStep:
    """Above a Flower optimizer: settings, dtype, and the state a checkpoint keeps."""

    name: ClassVar[str] = ""
    Params: ClassVar[type]
    STATE: ClassVar[tuple[str, ...]] = ()  # attributes holding {array name: ndarray} from round to round
    inner: Any
    _sent_dtypes: dict[str, np.dtype]

    @classmethod
    def flower_settings(cls, params: Any) -> dict[str, Any]:
        """Keyword arguments of the Flower class for ``params`` (the names are Flower's)."""
        return dict(vars(params))

    @classmethod
    def build(cls, params: Any, inner: Any) -> ServerStep:
        strategy = cls(fraction_evaluate=0.0, **cls.flower_settings(params))
        strategy.inner, strategy._sent_dtypes = inner, {}
        return strategy

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        self._sent_dtypes = {key: array.numpy().dtype for key, array in arrays.items()}
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        arrays, metrics = super().aggregate_train(server_round, replies)
        if arrays is not None and self._sent_dtypes:
            arrays = ArrayRecord({key: Array(np.asarray(array.numpy(), dtype=self._sent_dtypes.get(key)))
                                  for key, array in arrays.items()})
        return arrays, metrics

    def _prefix(self, attribute: str) -> str:
        return f"{self.name}.{attribute}/"

    def state_arrays(self) -> dict[str, np.ndarray]:
        own = {self._prefix(attribute) + key: np.asarray(value)
               for attribute in self.STATE for key, value in (getattr(self, attribute) or {}).items()}
        inner_state = getattr(self.inner, "state_arrays", None)
        return {**own, **(inner_state() if inner_state else {})}

    def restore_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        rest = dict(arrays)
        for attribute in self.STATE:
            prefix = self._prefix(attribute)
            mine = {key[len(prefix):]: rest.pop(key) for key in list(rest) if key.startswith(prefix)}
            if mine:
                setattr(self, attribute, mine)
        restore = getattr(self.inner, "restore_state_arrays", None)
        if restore:
            restore(rest)


def parse_server_optimizer(entry: Any, where: str = KEY) -> tuple[type, Any] | None:
    """(optimizer class, its validated Params) of ``name`` or ``{name: {param: value}}``; None: none."""
    if entry is None:
        return None
    name, params = named_entry(entry, where, "a server optimizer", "{fedadam: {eta: 0.01}}")
    if name not in SERVER_OPTIMIZERS:
        raise ConfigError(f"config key {where}: unknown server optimizer {name!r}; known: "
                          f"{', '.join(SERVER_OPTIMIZERS.names())} (or leave it out for FedAvg's plain average)")
    cls = SERVER_OPTIMIZERS.get(name)
    return cls, validated(cls.Params, {} if params is None else params, f"{where}.{name}")


def with_server_optimizer(strategy: Any, entry: Any) -> Any:
    """``strategy`` itself without a server optimizer, else the optimizer's step over it."""
    parsed = parse_server_optimizer(entry)
    if parsed is None:
        return strategy
    cls, params = parsed
    return cls.build(params, strategy)
