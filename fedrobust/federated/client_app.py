"""The Flower ClientApp: one simulated device per call, with its partition loaded by id.

Handlers:
- query: reports the node's partition id (the server's sampling is seeded over partition ids);
- train: one federated round of the configured algorithm; replies with the shared weights;
- evaluate: the final phase: natural and adversarial metrics of the global model, then
  personalization, then the same metrics of the personalized model.
"""

from __future__ import annotations

import torch
from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedrobust.federated import worker_cache
from fedrobust.federated.algorithms import ALGORITHMS, Algorithm, ClientCall
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.federated.transport import derive_seed, load_arrays, to_arrays

app = ClientApp()
torch.set_num_threads(1)  # many simulated devices share few cores; one thread each is fastest

class InjectedClientFailure(RuntimeError):
    """Raised on purpose by a fraction of clients to exercise fault tolerance."""


def _partition_id(context: Context) -> int:
    return int(context.node_config["partition-id"])


def _call(message: Message, context: Context) -> tuple[Algorithm, ClientCall]:
    settings = message.content["config"]
    config = worker_cache.parse_config(str(settings["fedrobust-config"]))
    partition_id = _partition_id(context)
    injected = config.simulation.inject_failure_fraction
    if injected and derive_seed(config.seed, "inject-failure", partition_id) / 2**31 < injected:
        raise InjectedClientFailure(f"client {partition_id}: injected failure (simulation.inject_failure_fraction)")
    algorithm = ALGORITHMS.get(config.algorithm)
    model = worker_cache.initial_model(config.model, algorithm.starts_from, config.seed)
    if "arrays" in message.content:
        load_arrays(model, message.content["arrays"])
    call = ClientCall(
        config=config,
        partition_id=partition_id,
        data=worker_cache.federated_dataset(config.data).client(partition_id),
        tokenizer=worker_cache.tokenizer_for(config.model),
        model=model,
        server_round=int(settings["server-round"]),
        state=ClientStateStore(str(settings["run-dir"]), f"{partition_id:06d}"),
        proximal_mu=float(settings.get("proximal-mu", 0.0)),
    )
    return algorithm, call


@app.query()
def query(message: Message, context: Context) -> Message:
    return Message(RecordDict({"metrics": MetricRecord({"partition-id": _partition_id(context)})}), reply_to=message)


@app.train()
def train(message: Message, context: Context) -> Message:
    algorithm, call = _call(message, context)
    metrics = algorithm.train(call)
    reply = RecordDict({
        "arrays": to_arrays(call.model, algorithm.shared_keys(call.model)),
        "metrics": MetricRecord({
            "num-examples": call.data.n_train,
            "train-loss": metrics["train_loss"],
            "partition-id": call.partition_id,
        }),
    })
    return Message(reply, reply_to=message)


@app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    algorithm, call = _call(message, context)
    return Message(RecordDict({"metrics": MetricRecord(personalize_and_measure(algorithm, call))}), reply_to=message)
