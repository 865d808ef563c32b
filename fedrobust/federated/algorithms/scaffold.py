"""SCAFFOLD (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled Averaging for Federated
Learning"): control variates correct each device's drift from the global objective.

The server keeps x and a control variate c; device i keeps its own c_i (zero until it first
trains). In a round a sampled device starts from y_i = x and takes K local SGD steps on
g_i(y_i) - c_i + c; with option II of the paper its new control variate is

    c_i+ = c_i - c + (x - y_i) / (K eta_l),

and it sends back y_i and Delta c_i = c_i+ - c_i. The server averages the weights (FedAvg's
average by examples, as every algorithm here; a server step size eta_g is
``server_optimizer: {fedavgm: {server_learning_rate: eta_g, server_momentum: 0}}``) and updates

    c <- c + (|S| / N) mean_{i in S} Delta c_i = c + (1/N) sum_{i in S} Delta c_i

with N the number of devices. c travels to the devices in each train message (record
``scaffold-c``), Delta c_i back in the reply (``scaffold-dc``); c_i lives in the device's state
store and c in the checkpoint, so a resumed run continues exactly.

Local steps are plain SGD at ``lr`` (option II's estimate (x - y_i) / (K eta_l) is the mean
corrected gradient only for SGD steps; ``local.lr`` is Adam's), with ``local.epochs``,
``local.batch_size`` and ``local.adversarial`` as for the other algorithms. Control variates
cover the model's parameters; the personalized phase fine-tunes the global model as fedavg_ft
does. Round DP is refused: c_i is computed from the device's data and would leave it unclipped.

    algorithm: {scaffold: {lr: 0.05}}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict
from torch import nn

from fedrobust.config_schema import POSITIVE, Limit
from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms.base import Algorithm, ClientCall, local_settings
from fedrobust.federated.algorithms.registry import register_algorithm
from fedrobust.federated.local_training import train_locally
from fedrobust.federated.strategy import SeededFedAvg

if TYPE_CHECKING:
    from fedrobust.federated.config import SimulationConfig

SERVER_CONTROL = "scaffold-c"  # train message: the server control variate c (empty: zero)
CONTROL_CHANGE = "scaffold-dc"  # a device's reply: Delta c_i
STATE_PREFIX = "scaffold.c/"  # the checkpoint's arrays of c


@dataclass(frozen=True)
class ScaffoldParams:
    lr: float = 0.05  # eta_l: the step size of the local SGD steps

    LIMITS: ClassVar[dict[str, Limit]] = {"lr": POSITIVE}


@dataclass(frozen=True)
class ControlCorrection:
    """The local objective's term <c - c_i, w>: its gradient is the correction c - c_i. Its value is
    written as <c - c_i, w - w.detach()>, always 0, so that the reported training loss is the data's."""

    correction: dict[str, torch.Tensor]

    def loss(self, model: nn.Module) -> torch.Tensor:
        total = torch.zeros(())
        for name, param in model.named_parameters():
            if param.requires_grad and name in self.correction:
                total = total + (self.correction[name] * (param - param.detach())).sum()
        return total

    def add_gradient(self, model: nn.Module) -> None:
        for name, param in model.named_parameters():
            if param.requires_grad and name in self.correction and param.grad is not None:
                param.grad.add_(self.correction[name])


def _tensors(record: ArrayRecord | None) -> dict[str, torch.Tensor]:
    return {} if record is None else {key: torch.from_numpy(array.numpy().copy()) for key, array in record.items()}


@register_algorithm
class Scaffold(Algorithm):
    name = "scaffold"
    Params = ScaffoldParams
    personalizes = True

    def aggregation_strategy(self, config: SimulationConfig) -> ScaffoldStrategy:
        if config.privacy.rounds.mode != "none":
            raise ConfigError(f"config keys algorithm (scaffold) and privacy.rounds.mode ({config.privacy.rounds.mode}): "
                              "SCAFFOLD's control variates leave the devices without clipping or noise; "
                              "set privacy.rounds.mode: none or choose another algorithm")
        return ScaffoldStrategy(fraction_train=config.fraction_train, min_train_nodes=config.min_train_clients,
                                fraction_evaluate=0.0, seed=config.seed)

    def train(self, call: ClientCall) -> dict[str, float]:
        x = call.received_weights()
        names = [name for name, _ in call.model.named_parameters()]
        server = _tensors(call.server_records.get(SERVER_CONTROL))
        own = call.state.load(before_round=call.server_round) or {}
        c = {n: server.get(n, torch.zeros_like(x[n])) for n in names}
        c_i = {n: own.get(n, torch.zeros_like(x[n])) for n in names}
        lr = self.params.lr
        settings = replace(local_settings(call.config), lr=lr, optimizer="sgd")
        metrics = train_locally(call.model, call.tokenizer, call.data.train_texts, call.data.train_labels, settings,
                                seed=call.seed("train"), penalty=ControlCorrection({n: c[n] - c_i[n] for n in names}))
        steps = metrics["steps"]
        y = call.model.state_dict()
        # option II; without a step (no data, or epochs 0) the device's control variate stays
        new = {n: c_i[n] - c[n] + (x[n] - y[n].detach()) / (steps * lr) for n in names} if steps else c_i
        call.state.save(call.server_round, new)
        call.reply_records[CONTROL_CHANGE] = ArrayRecord({n: Array((new[n] - c_i[n]).numpy()) for n in names})
        return metrics


class ScaffoldStrategy(SeededFedAvg):
    """The seeded FedAvg strategy, sending c with the weights and updating it from the devices' Delta c_i."""

    control: dict[str, np.ndarray] | None = None

    def train_records(self, server_round: int) -> dict[str, ArrayRecord]:
        return {SERVER_CONTROL: ArrayRecord({k: Array(v) for k, v in (self.control or {}).items()})}

    def aggregate_devices(self, server_round: int,
                          per_device: dict[int, RecordDict]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        changes, weights = [], {}
        for device, record in per_device.items():
            changes.append({k: a.numpy() for k, a in record[CONTROL_CHANGE].items()})
            weights[device] = RecordDict({kind: r for kind, r in record.items() if kind != CONTROL_CHANGE})
        if changes:
            num_devices = sum(len(devices) for devices in self.devices_of.values())
            control = self.control or {k: np.zeros_like(v) for k, v in changes[0].items()}
            total = {k: np.sum([change[k] for change in changes], axis=0) for k in control}  # in device order
            self.control = {k: (control[k] + total[k] / num_devices).astype(control[k].dtype) for k in control}
        return super().aggregate_devices(server_round, weights)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {STATE_PREFIX + k: v for k, v in (self.control or {}).items()}

    def restore_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        control = {k[len(STATE_PREFIX):]: np.asarray(v) for k, v in arrays.items() if k.startswith(STATE_PREFIX)}
        self.control = control or None
