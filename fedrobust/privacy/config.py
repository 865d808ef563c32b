"""Privacy settings: DP-SGD for on-device training, DP in the federated rounds, and membership
inference. Each type validates itself and names its keys under the dotted path it sits at
(``where``), e.g. ``personalize.dp.max_grad_norm`` or ``federated.privacy.rounds.mode``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from fedrobust.config_schema import FRACTION, NON_NEGATIVE, POSITIVE, Limit, check_all, check_limits
from fedrobust.errors import ConfigError
from fedrobust.privacy.membership import MEMBERSHIP_ATTACKS

ROUND_DP_MODES = ("none", "server_fixed", "server_adaptive")
DP_ACCOUNTANTS = ("rdp", "prv", "gdp")
# all_steps: every on-device training step whose result stays on the device (Ditto's personal
# model, FedRep's head, the final fine-tune) is DP-SGD, composed in one accountant per device;
# final_only: only the final fine-tune is, and a device whose model had other on-device training
# reports an infinite epsilon.
DP_SCOPES = ("all_steps", "final_only")
PROBABILITY = Limit(0, 1, open_low=True, open_high=True)  # delta: 0 is no privacy claim, 1 none at all


@dataclass
class DPConfig:
    """DP-SGD (Opacus) for on-device personalization; off unless a noise level or a target is set."""

    noise_multiplier: float | None = None  # sigma; or
    target_epsilon: float | None = None  # Opacus picks sigma to end at this epsilon after the epochs
    max_grad_norm: float = 1.0  # per-sample clipping bound
    delta: float = 1e-5
    accountant: str = "rdp"
    scope: str = "all_steps"  # all_steps | final_only (see DP_SCOPES)

    LIMITS: ClassVar[dict[str, Limit]] = {"noise_multiplier": NON_NEGATIVE, "target_epsilon": POSITIVE,
                                          "max_grad_norm": POSITIVE, "delta": PROBABILITY}

    @property
    def enabled(self) -> bool:
        return self.noise_multiplier is not None or self.target_epsilon is not None

    def validate(self, where: str = "personalize.dp") -> None:
        check_limits(self, where)
        check_all([
            (self.noise_multiplier is None or self.target_epsilon is None,
             f"{where}: set noise_multiplier or target_epsilon, not both"),
            (self.accountant in DP_ACCOUNTANTS, f"{where}.accountant must be one of {', '.join(DP_ACCOUNTANTS)}"),
            (self.scope in DP_SCOPES, f"{where}.scope must be one of {', '.join(DP_SCOPES)}"),
        ])


@dataclass
class RoundsDPConfig:
    """User-level DP in the federated rounds with Flower's server-side DP strategy wrappers."""

    mode: str = "none"  # none | server_fixed | server_adaptive
    noise_multiplier: float = 1.0
    clipping_norm: float = 1.0  # the fixed bound, or the initial one for adaptive clipping
    target_clipped_quantile: float = 0.5
    clip_norm_lr: float = 0.2
    clipped_count_stddev: float | None = None  # adaptive only; Flower's default: sampled clients / 20
    delta: float = 1e-5

    LIMITS: ClassVar[dict[str, Limit]] = {
        "noise_multiplier": NON_NEGATIVE, "clipping_norm": POSITIVE, "target_clipped_quantile": FRACTION,
        "clip_norm_lr": POSITIVE, "clipped_count_stddev": NON_NEGATIVE, "delta": PROBABILITY}

    def validate(self, where: str = "privacy.rounds") -> None:
        check_limits(self, where)
        check_all([(self.mode in ROUND_DP_MODES, f"{where}.mode must be one of {', '.join(ROUND_DP_MODES)}")])


@dataclass
class MembershipConfig:
    """Membership inference on each device: members = its personalization data, non-members = its test data."""

    attacks: list[str] = field(default_factory=list)  # e.g. [loss_threshold, reference_calibrated]
    reference_models: int = 2  # models personalized on public data, for the calibrated attack
    max_examples: int | None = None  # cap on members and on non-members per device

    LIMITS: ClassVar[dict[str, Limit]] = {"reference_models": NON_NEGATIVE, "max_examples": Limit(2)}

    def validate(self, where: str = "privacy.membership") -> None:
        check_limits(self, where)
        for name in self.attacks:
            if name not in MEMBERSHIP_ATTACKS:
                raise ConfigError(f"config key {where}.attacks: unknown membership-inference attack {name!r}; "
                                  f"known: {', '.join(MEMBERSHIP_ATTACKS.names())}")
            if MEMBERSHIP_ATTACKS.get(name).needs_reference_models and self.reference_models < 1:
                raise ConfigError(f"config key {where}.reference_models must be >= 1 for the {name} attack")


@dataclass
class PrivacyConfig:
    rounds: RoundsDPConfig = field(default_factory=RoundsDPConfig)
    membership: MembershipConfig = field(default_factory=MembershipConfig)

    def validate(self, where: str = "privacy") -> None:
        self.rounds.validate(f"{where}.rounds")
        self.membership.validate(f"{where}.membership")
