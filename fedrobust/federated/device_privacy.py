"""The device phase's privacy metrics, built from fedrobust.privacy's parts (accountants,
membership attacks): the epsilon each phase's model spent on this device's data, and
membership-inference scores against it.

Flat keys, like the rest of the device's metrics: ``<phase>/dp_epsilon`` (record-level epsilon of
the on-device DP personalization; inf without DP, NaN for the global phase),
``<phase>/rounds_epsilon`` (user-level epsilon of the federated rounds; inf without round DP),
``<phase>/mia_<attack>_auc`` and ``<phase>/mia_<attack>_tpr_at_1pct_fpr``.
"""

from __future__ import annotations

import copy
import math

import torch

from fedrobust.errors import DataError, FedrobustError
from fedrobust.federated import worker_cache
from fedrobust.federated.algorithms.base import ClientCall, personalize_settings
from fedrobust.federated.config import SimulationConfig
from fedrobust.federated.local_training import train_locally
from fedrobust.federated.parameter_groups import trainable_parameters
from fedrobust.models.base import TextClassifier
from fedrobust.privacy.accounting import dp_report, federation_epsilon
from fedrobust.privacy.membership import MEMBERSHIP_ATTACKS, MembershipTarget, roc_auc, tpr_at_fpr
from fedrobust.seeding import derive_seed

LOW_FPR = 0.01


def _sample(texts: list[str], labels: list[int], limit: int | None, seed: int) -> tuple[list[str], list[int]]:
    if limit is None or len(texts) <= limit:
        return texts, labels
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))[:limit].tolist()
    return [texts[i] for i in order], [labels[i] for i in order]


def reference_models(call: ClientCall, start: TextClassifier, count: int) -> list[TextClassifier]:
    """``count`` models personalized from the model the server sent, each on a seeded sample of the
    public split as large as this device's training data: what the device's model would look like
    had it personalized on data without its members (the attacker's public knowledge)."""
    try:
        public = worker_cache.federated_dataset(call.config.data).public()
    except FedrobustError as exc:
        raise DataError(f"privacy.membership: reference models need the dataset's public split ({exc})") from None
    settings = personalize_settings(call.config)
    models = []
    for k in range(count):
        seed = derive_seed(call.config.seed, "mia-reference", call.partition_id, k)
        texts, labels = _sample(public.train_texts, public.train_labels, call.data.n_train, seed)
        model = copy.deepcopy(start)
        params = trainable_parameters(model, call.config.personalize.params, call.config.personalize.adapter_dim)
        train_locally(model, call.tokenizer, texts, labels, settings, seed=seed, parameters=params)
        models.append(model)
    return models


def membership_metrics(target: MembershipTarget, attacks: list[str]) -> dict[str, float]:
    metrics = {}
    for name in attacks:
        members, nonmembers = target.split(MEMBERSHIP_ATTACKS.get(name).scores(target))
        metrics[f"mia_{name}_auc"] = roc_auc(members, nonmembers)
        metrics[f"mia_{name}_tpr_at_1pct_fpr"] = tpr_at_fpr(members, nonmembers, LOW_FPR)
    return metrics


def _num_clients(config: SimulationConfig) -> int:
    total = len(worker_cache.federated_dataset(config.data))
    return min(total, config.max_clients or total)


def privacy_metrics(
    call: ClientCall, start: TextClassifier, global_model: TextClassifier, personalized: TextClassifier | None,
    federated: bool,
) -> dict[str, float]:
    """Flat ``<phase>/<metric>`` privacy metrics of both phases (``personalized`` None: the
    algorithm does not personalize, and that phase is the global model)."""
    config, data = call.config, call.data
    membership = config.privacy.membership
    rounds = config.rounds if federated else 0
    round_eps = federation_epsilon(config.privacy.rounds, _num_clients(config), rounds, config.fraction_train,
                                   config.min_train_clients)
    seed = derive_seed(config.seed, "mia-sample", call.partition_id)
    members = _sample(data.train_texts, data.train_labels, membership.max_examples, seed)
    nonmembers = _sample(data.test_texts, data.test_labels, membership.max_examples, seed + 1)
    needs_references = any(MEMBERSHIP_ATTACKS.get(a).needs_reference_models for a in membership.attacks)
    references = reference_models(call, start, membership.reference_models) if needs_references else []

    def measure(model: TextClassifier, attacks: list[str]) -> dict[str, float]:
        return membership_metrics(MembershipTarget(model, call.tokenizer, *members, *nonmembers, references), attacks)

    # The references imitate personalization, so calibrated attacks only make sense against the
    # personalized model; the global phase gets the reference-free attacks as a baseline.
    baseline = [a for a in membership.attacks if not MEMBERSHIP_ATTACKS.get(a).needs_reference_models]
    phases = {"global": {"rounds_epsilon": round_eps, "dp_epsilon": math.nan, **measure(global_model, baseline)}}
    if personalized is None:
        phases["personalized"] = phases["global"]
    else:
        report = dp_report(personalized)
        phases["personalized"] = {"rounds_epsilon": round_eps, "dp_epsilon": report.epsilon if report else math.inf,
                                  **measure(personalized, membership.attacks)}
    return {f"{phase}/{key}": value for phase, values in phases.items() for key, value in values.items()}
