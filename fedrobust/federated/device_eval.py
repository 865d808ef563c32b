"""The final phase on one device: measure the global model, personalize it, measure it again.

Both phases are measured by fedrobust.evaluation (natural accuracy, loss and the prediction
profile on all the device's texts of ``evaluate.split``: test, or validation for runs that tune
settings; accuracy under every threat of ``evaluate.attacks`` on the same seeded sample of
``evaluate.examples`` of them, all by default), beside the device's majority-label baseline on the
same texts; then the privacy metrics are added (fedrobust.federated.device_privacy).
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any, Callable, Sequence


from fedrobust.data import FederatedDataset
from fedrobust.evaluation.attack_eval import TextPool
from fedrobust.evaluation.baselines import majority_accuracy
from fedrobust.evaluation.measure import attack_metrics_pooled, measure
from fedrobust.evaluation.metrics import MAJORITY_ACC
from fedrobust.federated.algorithms import Algorithm, ClientCall
from fedrobust.federated.algorithms.base import device_seed, personalize_settings
from fedrobust.federated.device_explanations import explanation_metrics
from fedrobust.federated.device_privacy import privacy_metrics
from fedrobust.federated.cohort_stacking import require_stackable, train_cohort
from fedrobust.models.base import TextClassifier
from fedrobust.seeding import derive_seed

if TYPE_CHECKING:
    from fedrobust.federated.config import SimulationConfig

log = logging.getLogger(__name__)

PHASES = ("global", "personalized")


def attack_seed(config: SimulationConfig, device: int) -> int:
    """The seed of a device's attacks: the same examples and random edits in both phases."""
    return derive_seed(config.seed, "attack", device)


def shares_received_model(algorithm: Algorithm) -> bool:
    """Whether the algorithm's global phase measures the received weights on every device (no
    device state loaded into them), so that one model serves a whole cohort."""
    return type(algorithm).global_model is Algorithm.global_model


def cohort_global_attacks(
    algorithm: Algorithm, config: SimulationConfig, devices: Sequence[int], model: TextClassifier, tokenizer: Any,
    dataset: FederatedDataset,
) -> dict[int, dict[str, float]]:
    """The global phase's accuracy under attack for every device of a cohort, when they all
    measure the same received ``model``: each threat's attack runs once over the sampled texts of
    all the devices (fedrobust.evaluation.measure.attack_metrics_pooled), with each device's seed,
    so every device gets the figures its own call would give. Empty when the algorithm loads device
    state into its global model, or for a single device."""
    if len(devices) < 2 or not shares_received_model(algorithm):
        return {}
    settings = config.evaluate
    pools = [TextPool(*dataset.client(device).split(settings.split), seed=attack_seed(config, device))
             for device in devices]
    return dict(zip(devices, attack_metrics_pooled(model, tokenizer, pools, settings)))


def stacks_personalization(algorithm: Algorithm, config: SimulationConfig) -> bool:
    """Whether the cohort's personalization runs on the stacked engine: asked for, and the algorithm
    personalizes by fine-tuning the model every device received (not its own way, as Ditto does)."""
    return (config.personalize.engine == "stacked" and shares_received_model(algorithm) and algorithm.personalizes
            and type(algorithm).personalized_model is Algorithm.personalized_model)


def cohort_personalized_models(
    algorithm: Algorithm, config: SimulationConfig, devices: Sequence[int], model: TextClassifier, tokenizer: Any,
    dataset: FederatedDataset, server_round: int,
) -> dict[int, TextClassifier | Exception]:
    """Every device's personalized model for ``personalize.engine: stacked``
    (fedrobust.federated.stacked_personalization), the devices fine-tuned together from the received
    ``model`` in stacks of at most ``cohort_stacking.STACK_DEVICES`` devices of one shape; empty when the cohort does not stack
    (``stacks_personalization``). A stack that fails is run device by device, so that a failure is
    pinned on its device (the device's entry is the exception); a device alone gives the same bits."""
    if not stacks_personalization(algorithm, config):
        return {}
    settings = personalize_settings(config)
    require_stackable(model, settings, "personalize.engine", config.model)
    texts = {}
    for device in devices:
        data = dataset.client(device)
        if data.split(config.evaluate.split)[1]:  # a device never scored is never personalized (personalize_and_measure)
            texts[device] = (data.train_texts, data.train_labels)
    seeds = {device: device_seed(config, "personalize", server_round, device) for device in texts}
    trained = train_cohort(model, texts, seeds, settings, tokenizer)
    return {device: result if isinstance(result, Exception) else result.model for device, result in trained.items()}


def personalize_and_measure(
    algorithm: Algorithm, call: ClientCall, global_attacks: dict[str, float] | None = None,
    personalized: TextClassifier | Exception | None = None,
) -> dict[str, float | int]:
    """Flat metrics as the server expects them: ``<phase>/<metric>`` plus sizes and the partition id.
    ``global_attacks``: the global phase's attack metrics, already measured for the cohort
    (``cohort_global_attacks``); ``personalized``: the device's personalized model, already made for
    the cohort (``cohort_personalized_models``; an exception there fails this device)."""
    if isinstance(personalized, Exception):
        raise personalized
    data, settings = call.data, call.config.evaluate
    seed = attack_seed(call.config, call.partition_id)
    # the received weights, kept before global_model() may load device state into them, for the
    # reference models of membership inference (a copy per device costs more than a small device's work)
    received = copy.deepcopy(call.model) if call.config.privacy.membership.attacks else call.model
    texts, labels = data.split(settings.split)
    global_model = algorithm.global_model(call)
    results = {"global": measure(global_model, call.tokenizer, texts, labels, settings, seed, attacked=global_attacks)}
    # explained before personalization, which may train the global model's weights in place
    results["global"].update(explanation_metrics(call, global_model, texts, labels))
    # a device with no texts of evaluate.split is never scored: it is not personalized, and its
    # accuracies stay NaN (never 0.0), which every summary leaves out
    if personalized is None:
        personalized = algorithm.personalized_model(call) if labels else None
    results["personalized"] = (
        results["global"] if personalized is None
        else {**measure(personalized, call.tokenizer, texts, labels, settings, seed),
              **explanation_metrics(call, personalized, texts, labels)}
    )
    # num-examples: the texts measured (the results table's n_test column), of evaluate.split
    metrics: dict[str, float | int] = {"num-examples": len(labels), "partition-id": call.partition_id, "n-train": data.n_train,
                                       MAJORITY_ACC: majority_accuracy(data.train_labels, labels)}
    for phase in PHASES:
        for key, value in results[phase].items():
            metrics[f"{phase}/{key}"] = value
    metrics.update(privacy_metrics(call, received, global_model, personalized, algorithm.federated))
    return metrics


def evaluate_cohort(
    algorithm: Algorithm, config: SimulationConfig, devices: Sequence[int], model: TextClassifier, tokenizer: Any,
    dataset: FederatedDataset, server_round: int, device_call: Callable[[int], ClientCall],
    progress: Callable[[int], None] = lambda device: None,
) -> tuple[dict[int, dict[str, float | int]], dict[int, Exception]]:
    """The final phase for the devices of one message (a node's cohort, or a single device), all
    received ``model``: the cohort's pooled global-phase attacks and stacked personalization where
    they apply, then each device's ``personalize_and_measure``. Returns (metrics, failures) per
    device; a failing device does not stop the others. ``progress(-1)`` after each cohort-wide step,
    ``progress(device)`` after each device."""
    try:
        global_attacks = cohort_global_attacks(algorithm, config, devices, model, tokenizer, dataset)
    except Exception:  # measured device by device instead, so that a failure is pinned on its device
        log.debug("the cohort's pooled global-phase attacks failed", exc_info=True)
        global_attacks = {}
    progress(-1)
    try:
        personalized = cohort_personalized_models(algorithm, config, devices, model, tokenizer, dataset, server_round)
    except Exception as exc:  # e.g. a student the stacked engine cannot take: every device says why
        personalized = dict.fromkeys(devices, exc)
    progress(-1)
    metrics: dict[int, dict[str, float | int]] = {}
    failed: dict[int, Exception] = {}
    for device in devices:
        try:
            metrics[device] = personalize_and_measure(algorithm, device_call(device), global_attacks.get(device),
                                                      personalized.get(device))
        except Exception as exc:
            failed[device] = exc
        progress(device)
    return metrics, failed
