"""The final phase on one device: measure the global model, personalize it, measure it again."""

from __future__ import annotations

from fedrobust.federated.algorithms import Algorithm, ClientCall
from fedrobust.federated.local_eval import evaluate_model
from fedrobust.federated.transport import derive_seed

PHASES = ("global", "personalized")


def personalize_and_measure(algorithm: Algorithm, call: ClientCall) -> dict[str, float | int]:
    """Flat metrics as the server expects them: ``<phase>/<metric>`` plus sizes and the partition id."""
    data, settings = call.data, call.config.evaluate
    seed = derive_seed(call.config.seed, "attack", call.partition_id)  # same examples in both phases
    results = {"global": evaluate_model(algorithm.global_model(call), call.tokenizer, data.test_texts, data.test_labels, settings, seed)}
    personalized = algorithm.personalized_model(call)
    results["personalized"] = (
        results["global"] if personalized is None
        else evaluate_model(personalized, call.tokenizer, data.test_texts, data.test_labels, settings, seed)
    )
    metrics: dict[str, float | int] = {"num-examples": data.n_test, "partition-id": call.partition_id, "n-train": data.n_train}
    for phase in PHASES:
        for key, value in results[phase].items():
            metrics[f"{phase}/{key}"] = value
    return metrics
