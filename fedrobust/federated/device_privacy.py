"""The device phase's privacy metrics, built from fedrobust.privacy's parts (accountants,
membership attacks): the epsilon each phase's model spent on this device's data, and
membership-inference scores against it.

Flat keys, like the rest of the device's metrics, per phase:

- ``<phase>/device_epsilon`` and ``<phase>/device_delta``, what a reviewer reads: the guarantee,
  for each example of this device, of the phase's model over every step that trained on the
  device's data. The rounds' user-level guarantee implies the same one per example, and composes
  with the on-device DP-SGD by basic composition (epsilons add, deltas add). ``inf`` when any step
  was not private; 0 when the model never saw the device's data (no rounds, no device training).
- its components: ``<phase>/rounds_epsilon`` (user-level epsilon of the federated rounds: 0
  without rounds, ``inf`` for rounds without DP) and ``<phase>/dp_epsilon`` (record-level epsilon
  of every on-device DP-SGD step that fed the model, composed in one accountant: ``inf`` when some
  device-only training had no DP, including a personalization without DP; NaN for a global model
  that no device-only training fed).
- membership inference: ``<phase>/mia_<attack>_auc``, ``<phase>/mia_<attack>_tpr_at_min_fpr``
  (TPR at FPR ``mia_min_fpr`` = 1/``mia_n_nonmembers``, the lowest non-zero FPR the device's
  non-members resolve), ``<phase>/mia_n_members`` and ``<phase>/mia_n_nonmembers``; and each
  example's score under ``mia-scores/<phase>/<attack>/members`` and ``.../nonmembers`` (lists), for
  the attack pooled over all devices (fedrobust.federated.membership_pool).
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
from fedrobust.privacy.accounting import compose_basic, dp_report, federation_epsilon
from fedrobust.privacy.membership import MEMBERSHIP_ATTACKS, MembershipTarget, min_fpr, roc_auc, tpr_at_min_fpr
from fedrobust.seeding import derive_seed

SCORES_PREFIX = "mia-scores/"


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


def scores_key(phase: str, attack: str, side: str) -> str:
    """Where a device's reply carries one phase's and attack's scores (side: members | nonmembers)."""
    return f"{SCORES_PREFIX}{phase}/{attack}/{side}"


def membership_metrics(target: MembershipTarget, attacks: list[str]) -> tuple[dict[str, float], dict[str, tuple]]:
    """Per attack: the device's metrics, and its (member scores, non-member scores)."""
    metrics: dict[str, float] = {}
    scores = {}
    if attacks:
        n_nonmembers = len(target.nonmember_texts)
        metrics.update(mia_n_members=len(target.member_texts), mia_n_nonmembers=n_nonmembers,
                       mia_min_fpr=min_fpr(n_nonmembers))
    for name in attacks:
        members, nonmembers = target.split(MEMBERSHIP_ATTACKS.get(name).scores(target))
        metrics[f"mia_{name}_auc"] = roc_auc(members, nonmembers)
        metrics[f"mia_{name}_tpr_at_min_fpr"] = tpr_at_min_fpr(members, nonmembers)
        scores[name] = (members.double().tolist(), nonmembers.double().tolist())
    return metrics, scores


def _epsilons(model: TextClassifier | None, rounds: tuple[float, float], personalized: bool) -> dict[str, float]:
    """The phase's components and total (basic composition of the rounds and the on-device DP-SGD)."""
    report = dp_report(model)
    if report is not None:
        on_device = (report.epsilon, report.delta)
    else:  # a personalized model without a report was trained on the device without DP
        on_device = (math.inf, math.nan) if personalized else (math.nan, math.nan)
    total = compose_basic([rounds, (0.0, 0.0) if math.isnan(on_device[0]) else on_device])
    return {"device_epsilon": total[0], "device_delta": total[1], "rounds_epsilon": rounds[0], "dp_epsilon": on_device[0]}


def _num_clients(config: SimulationConfig) -> int:
    total = len(worker_cache.federated_dataset(config.data))
    return min(total, config.max_clients or total)


def privacy_metrics(
    call: ClientCall, start: TextClassifier, global_model: TextClassifier, personalized: TextClassifier | None,
    federated: bool,
) -> dict[str, float | list[float]]:
    """Flat ``<phase>/<metric>`` privacy metrics of both phases and the membership scores
    (``personalized`` None: the algorithm does not personalize, and that phase is the global model)."""
    config, data = call.config, call.data
    membership = config.privacy.membership
    rounds = config.rounds if federated else 0
    round_eps = federation_epsilon(config.privacy.rounds, _num_clients(config), rounds, config.fraction_train,
                                   config.min_train_clients)
    round_part = (round_eps, config.privacy.rounds.delta)
    seed = derive_seed(config.seed, "mia-sample", call.partition_id)
    members = _sample(data.train_texts, data.train_labels, membership.max_examples, seed)
    # the device's held-out texts of the evaluated split: validation ones in a run that tunes settings
    nonmembers = _sample(*data.split(config.evaluate.split), membership.max_examples, seed + 1)
    needs_references = any(MEMBERSHIP_ATTACKS.get(a).needs_reference_models for a in membership.attacks)
    references = reference_models(call, start, membership.reference_models) if needs_references else []

    def measure(model: TextClassifier, attacks: list[str]) -> tuple[dict[str, float], dict[str, tuple]]:
        return membership_metrics(MembershipTarget(model, call.tokenizer, *members, *nonmembers, references), attacks)

    # The references imitate personalization, so calibrated attacks only make sense against the
    # personalized model; the global phase gets the reference-free attacks as a baseline.
    baseline = [a for a in membership.attacks if not MEMBERSHIP_ATTACKS.get(a).needs_reference_models]
    mia = {"global": measure(global_model, baseline)}
    phases = {"global": {**_epsilons(global_model, round_part, personalized=False), **mia["global"][0]}}
    if personalized is None:
        phases["personalized"], mia["personalized"] = phases["global"], mia["global"]
    else:
        mia["personalized"] = measure(personalized, membership.attacks)
        phases["personalized"] = {**_epsilons(personalized, round_part, personalized=True), **mia["personalized"][0]}
    flat: dict[str, float | list[float]] = {f"{phase}/{key}": value for phase, values in phases.items()
                                            for key, value in values.items()}
    for phase, (_, by_attack) in mia.items():
        for attack, (member_scores, nonmember_scores) in by_attack.items():
            flat[scores_key(phase, attack, "members")] = member_scores
            flat[scores_key(phase, attack, "nonmembers")] = nonmember_scores
    return flat
