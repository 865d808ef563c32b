"""The `fedrobust simulate` config: YAML validated into dataclasses before any work starts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrobust.config_schema import build_with_overrides, dataclass_from_mapping, read_yaml_mapping
from fedrobust.errors import ConfigError

PARAM_GROUPS = ("all", "head", "adapters")
ROUND_DP_MODES = ("none", "server_fixed", "server_adaptive")
DP_ACCOUNTANTS = ("rdp", "prv", "gdp")


@dataclass
class DPConfig:
    """DP-SGD (Opacus) for on-device personalization; off unless a noise level or a target is set."""

    noise_multiplier: float | None = None  # sigma; or
    target_epsilon: float | None = None  # Opacus picks sigma to end at this epsilon after the epochs
    max_grad_norm: float = 1.0  # per-sample clipping bound
    delta: float = 1e-5
    accountant: str = "rdp"

    @property
    def enabled(self) -> bool:
        return self.noise_multiplier is not None or self.target_epsilon is not None


@dataclass
class LocalTrainConfig:
    """Local training in federated rounds."""

    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 16
    proximal_mu: float = 0.0  # FedProx's mu; FedProx sends it with every round
    adversarial: bool = False  # embedding-space PGD adversarial training
    adversarial_epsilon: float = 0.05
    adversarial_steps: int = 1


@dataclass
class PersonalizeConfig:
    """On-device personalization after the federated rounds."""

    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 16
    params: str = "all"  # all | head | adapters
    adapter_dim: int = 16
    adversarial: bool = False
    adversarial_epsilon: float = 0.05
    adversarial_steps: int = 1
    dp: DPConfig = field(default_factory=DPConfig)


@dataclass
class EvalConfig:
    attack: str = "fast_deepwordbug"
    adversarial_examples: int = 10  # per-client sample of test examples attacked
    max_queries: int | None = None


@dataclass
class DittoConfig:
    lam: float = 0.1  # pull of the personal model toward the global one
    personal_epochs: int = 1


@dataclass
class FedRepConfig:
    head_epochs: int = 2  # head epochs before the body epoch, each round


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


@dataclass
class MembershipConfig:
    """Membership inference on each device: members = its personalization data, non-members = its test data."""

    attacks: list[str] = field(default_factory=list)  # e.g. [loss_threshold, reference_calibrated]
    reference_models: int = 2  # models personalized on public data, for the calibrated attack
    max_examples: int | None = None  # cap on members and on non-members per device


@dataclass
class PrivacyConfig:
    rounds: RoundsDPConfig = field(default_factory=RoundsDPConfig)
    membership: MembershipConfig = field(default_factory=MembershipConfig)


@dataclass
class SimulationEngineConfig:
    backend: str = "ray"
    num_cpus_per_client: float = 1.0
    num_gpus_per_client: float = 0.0
    ray_address: str | None = None  # an existing Ray cluster, e.g. "127.0.0.1:6379" or "auto"
    timeout_s: float = 900.0  # per round; clients that do not answer count as failed
    inject_failure_fraction: float = 0.0  # clients that raise on purpose, to test fault tolerance
    devices_per_node: int = 1  # devices each Flower node simulates in turn (fedrobust.federated.cohorts)


@dataclass
class SimulationConfig:
    data: str
    model: str  # a student artifact; baselines re-initialize the same architecture
    algorithm: str = "robust_student"
    rounds: int = 3
    fraction_train: float = 0.2
    min_train_clients: int = 2
    max_clients: int | None = None  # use only the first N device clients (quick runs)
    seed: int = 0
    local: LocalTrainConfig = field(default_factory=LocalTrainConfig)
    personalize: PersonalizeConfig = field(default_factory=PersonalizeConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    ditto: DittoConfig = field(default_factory=DittoConfig)
    fedrep: FedRepConfig = field(default_factory=FedRepConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    simulation: SimulationEngineConfig = field(default_factory=SimulationEngineConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of everything that changes results (engine settings do not)."""
        relevant = {k: v for k, v in self.to_dict().items() if k != "simulation"}
        relevant["inject_failure_fraction"] = self.simulation.inject_failure_fraction
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def validate(config: SimulationConfig) -> SimulationConfig:
    from fedrobust.federated.algorithms import ALGORITHMS

    ALGORITHMS.get(config.algorithm)
    checks = [
        (config.rounds >= 0, "rounds must be >= 0"),
        (0 < config.fraction_train <= 1, "fraction_train must be in (0, 1]"),
        (config.min_train_clients >= 1, "min_train_clients must be >= 1"),
        (config.max_clients is None or config.max_clients >= 1, "max_clients must be >= 1"),
        (config.local.epochs >= 0 and config.personalize.epochs >= 0, "epochs must be >= 0"),
        (config.local.lr > 0 and config.personalize.lr > 0, "lr must be > 0"),
        (config.local.proximal_mu >= 0, "local.proximal_mu must be >= 0"),
        (config.personalize.params in PARAM_GROUPS, f"personalize.params must be one of {', '.join(PARAM_GROUPS)}"),
        (config.evaluate.adversarial_examples >= 0, "evaluate.adversarial_examples must be >= 0"),
        (0 <= config.simulation.inject_failure_fraction < 1, "simulation.inject_failure_fraction must be in [0, 1)"),
        (config.simulation.num_cpus_per_client > 0, "simulation.num_cpus_per_client must be > 0"),
        (config.simulation.devices_per_node >= 1, "simulation.devices_per_node must be >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config key {message}")
    if config.evaluate.adversarial_examples:
        from fedrobust.attacks import ATTACKS

        ATTACKS.get(config.evaluate.attack)
    validate_privacy(config)
    return config


def validate_privacy(config: SimulationConfig) -> None:
    dp, rounds, membership = config.personalize.dp, config.privacy.rounds, config.privacy.membership
    checks = [
        (dp.noise_multiplier is None or dp.target_epsilon is None,
         "personalize.dp: set noise_multiplier or target_epsilon, not both"),
        (dp.noise_multiplier is None or dp.noise_multiplier >= 0, "personalize.dp.noise_multiplier must be >= 0"),
        (dp.target_epsilon is None or dp.target_epsilon > 0, "personalize.dp.target_epsilon must be > 0"),
        (dp.max_grad_norm > 0, "personalize.dp.max_grad_norm must be > 0"),
        (0 < dp.delta < 1 and 0 < rounds.delta < 1, "personalize.dp.delta and privacy.rounds.delta must be in (0, 1)"),
        (dp.accountant in DP_ACCOUNTANTS, f"personalize.dp.accountant must be one of {', '.join(DP_ACCOUNTANTS)}"),
        (not (dp.enabled and config.personalize.adversarial),
         "personalize.dp cannot be combined with personalize.adversarial (DP-SGD here takes one forward "
         "pass per step); set personalize.adversarial: false"),
        (rounds.mode in ROUND_DP_MODES, f"privacy.rounds.mode must be one of {', '.join(ROUND_DP_MODES)}"),
        (rounds.noise_multiplier >= 0, "privacy.rounds.noise_multiplier must be >= 0"),
        (rounds.clipping_norm > 0, "privacy.rounds.clipping_norm must be > 0"),
        (0 <= rounds.target_clipped_quantile <= 1, "privacy.rounds.target_clipped_quantile must be in [0, 1]"),
        (rounds.clip_norm_lr > 0, "privacy.rounds.clip_norm_lr must be > 0"),
        (rounds.mode != "server_adaptive" or config.simulation.devices_per_node == 1,
         "privacy.rounds.mode server_adaptive counts clipped updates per Flower message; set simulation.devices_per_node: 1"),
        (membership.reference_models >= 0, "privacy.membership.reference_models must be >= 0"),
        (membership.max_examples is None or membership.max_examples >= 2, "privacy.membership.max_examples must be >= 2"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config key {message}")
    if membership.attacks:
        from fedrobust.privacy.membership import MEMBERSHIP_ATTACKS

        for name in membership.attacks:
            if MEMBERSHIP_ATTACKS.get(name).needs_reference_models and membership.reference_models < 1:
                raise ConfigError(f"config key privacy.membership.reference_models must be >= 1 for the {name} attack")


def config_from_mapping(mapping: dict[str, Any]) -> SimulationConfig:
    return validate(dataclass_from_mapping(SimulationConfig, mapping))


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SimulationConfig:
    return build_with_overrides(path, read_yaml_mapping(path), overrides, config_from_mapping)
