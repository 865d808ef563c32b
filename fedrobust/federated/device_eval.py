"""The final phase on one device: measure the global model, personalize it, measure it again.

Both phases are measured by fedrobust.evaluation (natural accuracy, loss and the prediction
profile on all the device's texts of ``evaluate.split``: test, or validation for runs that tune
settings; accuracy under every threat of ``evaluate.attacks`` on the same seeded sample of
``evaluate.examples`` of them, all by default), beside the device's majority-label baseline on the
same texts; then the privacy metrics are added (fedrobust.federated.device_privacy).
"""

from __future__ import annotations

import copy

from fedrobust.evaluation.baselines import majority_accuracy
from fedrobust.evaluation.measure import measure
from fedrobust.evaluation.metrics import MAJORITY_ACC
from fedrobust.federated.algorithms import Algorithm, ClientCall
from fedrobust.federated.device_privacy import privacy_metrics
from fedrobust.seeding import derive_seed

PHASES = ("global", "personalized")


def personalize_and_measure(algorithm: Algorithm, call: ClientCall) -> dict[str, float | int]:
    """Flat metrics as the server expects them: ``<phase>/<metric>`` plus sizes and the partition id."""
    data, settings = call.data, call.config.evaluate
    seed = derive_seed(call.config.seed, "attack", call.partition_id)  # same examples in both phases
    # the received weights, kept before global_model() may load device state into them, for the
    # reference models of membership inference (a copy per device costs more than a small device's work)
    received = copy.deepcopy(call.model) if call.config.privacy.membership.attacks else call.model
    texts, labels = data.split(settings.split)
    global_model = algorithm.global_model(call)
    results = {"global": measure(global_model, call.tokenizer, texts, labels, settings, seed)}
    # a device with no texts of evaluate.split is never scored: it is not personalized, and its
    # accuracies stay NaN (never 0.0), which every summary leaves out
    personalized = algorithm.personalized_model(call) if labels else None
    results["personalized"] = (
        results["global"] if personalized is None
        else measure(personalized, call.tokenizer, texts, labels, settings, seed)
    )
    # num-examples: the texts measured (the results table's n_test column), of evaluate.split
    metrics: dict[str, float | int] = {"num-examples": len(labels), "partition-id": call.partition_id, "n-train": data.n_train,
                                       MAJORITY_ACC: majority_accuracy(data.train_labels, labels)}
    for phase in PHASES:
        for key, value in results[phase].items():
            metrics[f"{phase}/{key}"] = value
    metrics.update(privacy_metrics(call, received, global_model, personalized, algorithm.federated))
    return metrics
