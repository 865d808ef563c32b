"""The `fedrobust simulate` config: YAML validated into dataclasses before any work starts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrobust.config_schema import dataclass_from_mapping, read_yaml_mapping, set_dotted
from fedrobust.errors import ConfigError

PARAM_GROUPS = ("all", "head", "adapters")


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
class SimulationEngineConfig:
    backend: str = "ray"
    num_cpus_per_client: float = 1.0
    num_gpus_per_client: float = 0.0
    ray_address: str | None = None  # an existing Ray cluster, e.g. "127.0.0.1:6379" or "auto"
    timeout_s: float = 900.0  # per round; clients that do not answer count as failed
    inject_failure_fraction: float = 0.0  # clients that raise on purpose, to test fault tolerance


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
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config key {message}")
    if config.evaluate.adversarial_examples:
        from fedrobust.attacks import ATTACKS

        ATTACKS.get(config.evaluate.attack)
    return config


def config_from_mapping(mapping: dict[str, Any]) -> SimulationConfig:
    return validate(dataclass_from_mapping(SimulationConfig, mapping))


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SimulationConfig:
    mapping = read_yaml_mapping(path)
    for dotted, value in (overrides or {}).items():
        set_dotted(mapping, dotted, value)
    try:
        return config_from_mapping(mapping)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
