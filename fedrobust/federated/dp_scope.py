"""Config checks of ``personalize.dp.scope`` against what an algorithm trains on the device, made
when the config is validated (before any work starts).

With ``scope: final_only`` an algorithm that trains weights on the device's data outside the final
fine-tune (Ditto's personal model, FedRep's head) reports an infinite device epsilon, so a finite
``target_epsilon`` cannot be met. With ``scope: all_steps`` those trainings are DP-SGD, which
rules out adversarial local training for them and the gdp accountant (it cannot compose steps of
different sample rates).
"""

from __future__ import annotations

from fedrobust.config_schema import dotted
from fedrobust.errors import ConfigError

FINAL_ONLY = "final_only"


def check_dp_scope(settings, algorithm, algorithm_where: str, where: str = "") -> None:
    """``settings``: the federation's settings (FederatedSettings); ``algorithm``: the algorithm
    built from the entry at ``algorithm_where``; keys are named under ``where``."""
    algorithm.check_settings(settings, where)
    dp = settings.personalize.dp
    rounds = settings.rounds if algorithm.federated else 0
    if not dp.enabled or rounds == 0 or algorithm.device_only_epochs(settings.local.epochs) == 0:
        return
    k = lambda key: dotted(where, key)  # noqa: E731
    trains = (f"{algorithm_where} ({algorithm.name}) trains weights on the device's data in every round "
              f"outside the final fine-tune")
    if dp.scope == FINAL_ONLY:
        if dp.target_epsilon is not None:
            raise ConfigError(
                f"config keys {k('personalize.dp.scope')}: final_only and {k('personalize.dp.target_epsilon')}: "
                f"{trains} without DP, so the device's epsilon is infinite and no target can be met; set "
                f"{k('personalize.dp.scope')}: all_steps (DP-SGD in every step, the noise chosen for the target over "
                f"all of them), or give {k('personalize.dp.noise_multiplier')} instead of a target")
        return
    if settings.local.adversarial:
        raise ConfigError(
            f"config keys {k('personalize.dp.scope')}: all_steps and {k('local.adversarial')}: {trains}, as DP-SGD "
            f"with one forward pass per step; set {k('local.adversarial')}: false or {k('personalize.dp.scope')}: final_only")
    if dp.accountant == "gdp":
        raise ConfigError(
            f"config keys {k('personalize.dp.accountant')}: gdp and {k('personalize.dp.scope')}: all_steps: {trains}, "
            f"and Opacus's gdp accountant cannot compose those steps with the final fine-tune's; use rdp or prv")
