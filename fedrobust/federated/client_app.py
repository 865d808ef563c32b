"""The Flower ClientApp: each call runs the devices its message names (one, or a cohort; see
fedrobust.federated.cohorts), with their data loaded by device id.

Handlers:
- query: reports the node's index (the server maps nodes to devices with it);
- train: one federated round of the configured algorithm per device; replies with each device's
  shared weights (of a large table only the rows it changed: fedrobust.federated.sparse_rows);
- evaluate: the final phase per device: natural and adversarial metrics of the global model,
  then personalization, then the same metrics of the personalized model. Where every device of
  the message measures the same received model, the global phase's attacks of the whole cohort
  run first as one batch (fedrobust.federated.device_eval.cohort_global_attacks), and with
  ``personalize.engine: stacked`` the devices are personalized together
  (fedrobust.federated.device_eval.cohort_personalized_models).
A device that raises is reported as failed in the reply; the other devices go on. Each device done
is noted in the phase's progress log (fedrobust.federated.progress_log), so that the server can tell a
node that is working through a large cohort from one that stopped.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedrobust.federated import worker_cache
from fedrobust.federated.algorithms import Algorithm, ClientCall
from fedrobust.federated.algorithms.registry import import_algorithm_module
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.cohorts import ALGORITHM_MODULE_KEY, DEVICES_KEY, pack_reply
from fedrobust.federated.config import SimulationConfig
from fedrobust.federated.device_eval import evaluate_cohort
from fedrobust.federated.fault_injection import InjectedClientFailure, inject_faults  # noqa: F401 (re-exported)
from fedrobust.federated.progress_log import PROGRESS_LOG_KEY, note_progress
from fedrobust.federated.sparse_rows import sparse_state_update
from fedrobust.federated.stacked_personalization import StackedResult
from fedrobust.federated.stacked_rounds import cohort_trained_models
from fedrobust.federated.transport import exchanged_state, load_arrays, to_arrays
from fedrobust.models.base import TextClassifier

log = logging.getLogger(__name__)
app = ClientApp()


def _node_index(context: Context) -> int:
    return int(context.node_config["partition-id"])


@dataclass
class NodeCall:
    """What every device of one message shares: config, algorithm, data, and the received weights."""

    algorithm: Algorithm
    config: SimulationConfig
    settings: ConfigRecord
    base_model: TextClassifier
    devices: list[int]
    server_records: dict[str, ArrayRecord] = field(default_factory=dict)  # beside the weights (ClientCall)
    received: ArrayRecord | None = None  # the weights as the message carried them
    sent_tables: dict[str, np.ndarray] = field(default_factory=dict)  # received tables as numpy, read once

    def device_call(self, device: int) -> ClientCall:
        config, settings = self.config, self.settings
        inject_faults(config.simulation, config.seed, device)
        return ClientCall(
            config=config,
            partition_id=device,
            data=worker_cache.federated_dataset(config.data).client(device),
            tokenizer=worker_cache.tokenizer_for(config.model),
            model=copy.deepcopy(self.base_model),
            server_round=int(settings["server-round"]),
            state=ClientStateStore(str(settings["run-dir"]), f"{device:06d}"),
            server_records=self.server_records,
        )

    def reply_arrays(self, model: TextClassifier) -> ArrayRecord:
        """The device's shared weights, large tables as their changed rows (sparse_rows)."""
        keys = self.algorithm.shared_keys(model)
        if self.received is None:
            return to_arrays(model, keys)
        state = {key: tensor.numpy() for key, tensor in exchanged_state(model, keys).items()}
        return sparse_state_update(state, self.received, self.sent_tables)

    def done(self, device: int) -> None:
        note_progress(str(self.settings.get(PROGRESS_LOG_KEY, "")), device)


def _node_call(message: Message) -> NodeCall:
    # many simulated devices share few cores, one thread each is fastest (set here, not on import:
    # the driver process imports this module too)
    torch.set_num_threads(1)
    settings = message.content["config"]
    import_algorithm_module(str(settings.get(ALGORITHM_MODULE_KEY, "")))  # e.g. a user's own algorithm
    config = worker_cache.parse_config(str(settings["fedrobust-config"]))
    algorithm = worker_cache.algorithm_for(str(settings["fedrobust-config"]))
    model = worker_cache.initial_model(config.model, config.init, config.seed)
    received = message.content["arrays"] if "arrays" in message.content else None
    if received is not None:
        load_arrays(model, received)
    extra = {key: record for key, record in message.content.array_records.items() if key != "arrays"}
    node = NodeCall(algorithm, config, settings, model, [int(d) for d in settings[DEVICES_KEY]], extra, received)
    note_progress(str(settings.get(PROGRESS_LOG_KEY, "")), -1)  # started: loading a large model is work too
    return node


def _failure(device: int, exc: Exception) -> str:
    log.debug("device %d failed", device, exc_info=True)
    return f"{type(exc).__name__}: {exc}"


@app.query()
def query(message: Message, context: Context) -> Message:
    return Message(RecordDict({"metrics": MetricRecord({"partition-id": _node_index(context)})}), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    """One federated round for each device named in the message, each from the received weights."""
    node = _node_call(message)
    arrays, metrics, failed, extra = {}, {}, {}, {}
    try:
        stacked = cohort_trained_models(node.algorithm, node.config, node.devices, node.base_model,
                                        worker_cache.tokenizer_for(node.config.model),
                                        worker_cache.federated_dataset(node.config.data), int(node.settings["server-round"]))
    except Exception as exc:  # e.g. a student the stacked engine cannot take: every device says why
        stacked = dict.fromkeys(node.devices, exc)
    for device in node.devices:
        try:
            call = node.device_call(device)
            result = _trained(node.algorithm, call, stacked.get(device))
        except Exception as exc:  # one device's crash must not take its cohort down with it
            failed[device] = _failure(device, exc)
            continue
        finally:
            node.done(device)
        # only the table rows the device changed travel back (the server rebuilds the rest)
        arrays[device] = node.reply_arrays(call.model)
        extra[device] = call.reply_records
        metrics[device] = MetricRecord({"num-examples": call.data.n_train, "train-loss": result["train_loss"],
                                        "partition-id": device})
    return Message(pack_reply(arrays, metrics, failed, extra), reply_to=message)


def _trained(algorithm: Algorithm, call: ClientCall, stacked: StackedResult | Exception | None) -> dict[str, float]:
    """The device's round: trained with its cohort on the stacked engine (the result put in
    ``call.model``), or now by the algorithm."""
    if stacked is None:
        return algorithm.train(call)
    if isinstance(stacked, Exception):
        raise stacked
    call.model = stacked.model
    return {"train_loss": stacked.train_loss, "steps": stacked.steps}


@app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    """The final phase for each device named in the message: measure, personalize, measure again."""
    node = _node_call(message)
    progress_log = str(node.settings.get(PROGRESS_LOG_KEY, ""))
    measured, crashed = evaluate_cohort(
        node.algorithm, node.config, node.devices, node.base_model, worker_cache.tokenizer_for(node.config.model),
        worker_cache.federated_dataset(node.config.data), int(node.settings["server-round"]), node.device_call,
        lambda device: note_progress(progress_log, device))
    metrics = {device: MetricRecord(values) for device, values in measured.items()}
    failed = {device: _failure(device, exc) for device, exc in crashed.items()}
    return Message(pack_reply({}, metrics, failed), reply_to=message)
