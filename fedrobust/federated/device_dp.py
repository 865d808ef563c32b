"""DP-SGD for every training step on a device's data whose result stays on the device.

Ditto's personal model and FedRep's head are trained on the device's data in every round the
device is sampled, are never sent (so the rounds' DP does not cover them) and end in the device's
models. With ``personalize.dp`` enabled and ``personalize.dp.scope: all_steps`` (the default) each
of those trainings is DP-SGD with the final fine-tune's settings (noise, clipping bound, delta,
accountant), and one accountant history per device, saved with the weights in its
ClientStateStore, composes them with the final fine-tune. Without DP on those steps (DP off, or
``scope: final_only``) each such training enters the history as steps without noise, so the
device's epsilon is infinite.

With ``target_epsilon`` every step uses the one noise multiplier at which the device's planned
schedule spends the target: ``rounds x epochs`` of round training (an upper bound: a device is
sampled in some rounds only) and then the final fine-tune.
"""

from __future__ import annotations

from dataclasses import replace

from fedrobust.federated.algorithms.base import Algorithm, ClientCall, personalize_settings
from fedrobust.federated.local_training import Penalty, TrainSettings, train_locally
from fedrobust.models.base import TextClassifier
from fedrobust.privacy.accounting import (
    History,
    compose,
    dp_report,
    not_private,
    noise_for_schedule,
    record_dp_report,
    report_for_history,
)
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.dp_personalization import poisson_schedule

ALL_STEPS = "all_steps"


def covers_every_step(dp: DPConfig) -> bool:
    return dp.enabled and dp.scope == ALL_STEPS


def device_dp(call: ClientCall, algorithm: Algorithm) -> DPConfig:
    """``personalize.dp`` for this device, with a target epsilon turned into the noise multiplier
    that meets it over every planned DP-SGD step (the configured settings when there is nothing
    to plan: no target, or no on-device training before the final fine-tune)."""
    dp, config = call.config.personalize.dp, call.config
    rounds = config.rounds if algorithm.federated else 0
    round_epochs = rounds * algorithm.device_only_epochs(config.local.epochs)
    if dp.target_epsilon is None or not covers_every_step(dp) or round_epochs == 0:
        return dp
    n = call.data.n_train
    schedule = (poisson_schedule(n, config.local.batch_size, round_epochs),
                poisson_schedule(n, config.personalize.batch_size, config.personalize.epochs))
    sigma = noise_for_schedule(dp.target_epsilon, dp.delta, schedule, dp.accountant)
    return replace(dp, noise_multiplier=sigma, target_epsilon=None)


def train_on_device(
    call: ClientCall,
    algorithm: Algorithm,
    model: TextClassifier,
    settings: TrainSettings,
    seed: int,
    prior: History,
    parameters=None,
    penalty: Penalty | None = None,
) -> tuple[dict[str, float], History]:
    """One round's training of weights that stay on the device; returns its metrics and the
    device's accountant history after it (``prior`` and these steps)."""
    data = call.data
    if covers_every_step(call.config.personalize.dp):
        # DP-SGD takes one forward pass per step: no adversarial examples here (checked in the config)
        private = replace(settings, dp=device_dp(call, algorithm), adversarial=False)
        metrics = train_locally(model, call.tokenizer, data.train_texts, data.train_labels, private, seed=seed,
                                parameters=parameters, penalty=penalty, dp_prior=prior)
        return metrics, dp_report(model).history
    metrics = train_locally(model, call.tokenizer, data.train_texts, data.train_labels, settings, seed=seed,
                            parameters=parameters, penalty=penalty)
    return metrics, compose(prior, not_private(metrics["steps"]))


def final_settings(call: ClientCall, algorithm: Algorithm) -> TrainSettings:
    """The final fine-tune's settings, its DP-SGD noise planned with the rounds' steps."""
    settings = personalize_settings(call.config)
    return replace(settings, dp=device_dp(call, algorithm)) if settings.dp is not None else settings


def load_device_weights(call: ClientCall) -> History:
    """Load the weights the device keeps (saved in its state before this round) into ``call.model``;
    returns the accountant history of their training."""
    saved = call.state.load(before_round=call.server_round)
    if saved is not None:
        call.model.load_state_dict(saved, strict=False)
    return call.state.load_dp_history(before_round=call.server_round)


def model_with_device_weights(call: ClientCall) -> TextClassifier:
    """``call.model`` with the device's kept weights loaded, carrying the DP report of their training
    (the global phase of algorithms that keep part of the model on the device)."""
    history = load_device_weights(call)
    if history:
        dp = call.config.personalize.dp
        record_dp_report(call.model, report_for_history(history, dp.delta, dp.accountant))
    return call.model
