"""Federated settings, validated into dataclasses before any work starts: the `fedrobust simulate`
config (``SimulationConfig``) and the run config's ``federated:`` section (``FederatedSection``),
which share every setting but the data, the model, the seed and the algorithm(s).

An algorithm is named with its settings, which its own module declares (its ``Params``):

    algorithm: ditto                            # defaults
    algorithm: {ditto: {lam: 0.1}}              # a simulate config
    algorithms: [fedavg_ft, {fedprox: {mu: 0.01}}]   # the run config's federated section

Privacy settings are fedrobust.privacy's types; the device phase's attack evaluation is
fedrobust.evaluation's. Errors name the dotted key (``federated.algorithms[1].fedprox.mu``).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedrobust.config_schema import check_all, dataclass_from_mapping, dotted, validated
from fedrobust.config_schema import load_config as load_config_file
from fedrobust.errors import ConfigError
from fedrobust.evaluation.config import RENAMED_KEYS, DeviceAttackEvalConfig
from fedrobust.federated.algorithms.registry import ALGORITHMS  # importing it registers every algorithm
from fedrobust.privacy.config import DPConfig, PrivacyConfig

PARAM_GROUPS = ("all", "head", "adapters")
DEFAULT_ALGORITHM = "robust_student"


@dataclass
class LocalTrainConfig:
    """Local training in federated rounds."""

    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 16
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
class SimulationEngineConfig:
    backend: str = "ray"
    num_cpus_per_client: float = 1.0
    num_gpus_per_client: float = 0.0
    ray_address: str | None = None  # an existing Ray cluster, e.g. "127.0.0.1:6379" or "auto"
    timeout_s: float = 900.0  # per round; clients that do not answer count as failed
    inject_failure_fraction: float = 0.0  # clients that raise on purpose, to test fault tolerance
    devices_per_node: int = 1  # devices each Flower node simulates in turn (fedrobust.federated.cohorts)


@dataclass(kw_only=True)
class FederatedSettings:
    """Everything about a federation except its data, model, seed and algorithm."""

    rounds: int = 3
    fraction_train: float = 0.2
    min_train_clients: int = 2
    max_clients: int | None = None  # use only the first N device clients (quick runs)
    local: LocalTrainConfig = field(default_factory=LocalTrainConfig)
    personalize: PersonalizeConfig = field(default_factory=PersonalizeConfig)
    evaluate: DeviceAttackEvalConfig = field(default_factory=DeviceAttackEvalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    simulation: SimulationEngineConfig = field(default_factory=SimulationEngineConfig)


@dataclass(kw_only=True)
class FederatedSection(FederatedSettings):
    """The run config's ``federated:`` section: the settings, and the algorithms to compare (one
    federation each)."""

    algorithms: list[Any] = field(default_factory=lambda: [DEFAULT_ALGORITHM])


@dataclass(kw_only=True)
class SimulationConfig(FederatedSettings):
    """One federation: what `fedrobust simulate` reads, and what each device receives."""

    data: str
    model: str  # a student artifact; baselines re-initialize the same architecture
    algorithm: Any = DEFAULT_ALGORITHM  # a name, or {name: {param: value}}
    seed: int = 0

    @property
    def algorithm_name(self) -> str:
        return algorithm_name(self.algorithm, "algorithm")

    @property
    def algorithm_params(self) -> Any:
        """The algorithm's settings: an instance of its ``Params`` dataclass."""
        return algorithm_params(self.algorithm, "algorithm")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of everything that changes results (engine settings do not)."""
        relevant = {k: v for k, v in self.to_dict().items() if k != "simulation"}
        relevant["inject_failure_fraction"] = self.simulation.inject_failure_fraction
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def _entry(entry: Any, where: str) -> tuple[str, Any]:
    """(name, params mapping or None) of an algorithm entry: ``name`` or ``{name: {params}}``."""
    if isinstance(entry, str):
        name, params = entry, None
    elif isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry)), str):
        name, params = next(iter(entry.items()))
    else:
        raise ConfigError(f"config key {where} must be an algorithm name or a one-key mapping "
                          f"{{name: {{param: value}}}}, e.g. {{ditto: {{lam: 0.1}}}}; got {entry!r}")
    if name not in ALGORITHMS:
        raise ConfigError(f"config key {where}: unknown federated algorithm {name!r}; known: {', '.join(ALGORITHMS.names())}")
    return name, params


def algorithm_name(entry: Any, where: str) -> str:
    """The registered algorithm an entry names (ConfigError naming ``where`` otherwise)."""
    return _entry(entry, where)[0]


def algorithm_params(entry: Any, where: str) -> Any:
    """The entry's settings as the algorithm's ``Params`` dataclass, checked key by key."""
    name, params = _entry(entry, where)
    params_type = ALGORITHMS.get(name).Params
    params_where = f"{where}.{name}"
    return validated(params_type, {} if params is None else params, params_where)


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()


def _algorithm_form(entry: Any, algorithm_key: str) -> str:
    if algorithm_key.endswith("algorithms"):
        return f"{algorithm_key}: [..., {_flow(entry)}]"
    return f"{algorithm_key}: {_flow(entry)}"


def check_moved_keys(mapping: Any, where: str = "", algorithm_key: str = "algorithm") -> None:
    """Keys of earlier versions fail with the form that replaced them: the ``ditto:`` / ``fedrep:``
    sections and ``local.proximal_mu`` are algorithm settings now, ``evaluate.adversarial_examples``
    is ``evaluate.examples``."""
    if not isinstance(mapping, dict):
        return
    for name in ("ditto", "fedrep"):
        if name in mapping:
            params = mapping[name] or dataclasses.asdict(ALGORITHMS.get(name).Params())
            raise ConfigError(f"config key {dotted(where, name)} moved: write {_algorithm_form({name: params}, algorithm_key)}")
    local = mapping.get("local")
    if isinstance(local, dict) and "proximal_mu" in local:
        form = _algorithm_form({"fedprox": {"mu": local["proximal_mu"]}}, algorithm_key)
        raise ConfigError(f"config key {dotted(where, 'local.proximal_mu')} moved: write {form} "
                          f"(the proximal term is FedProx's setting; Ditto's is its lam)")
    evaluate = mapping.get("evaluate")
    for old in evaluate if isinstance(evaluate, dict) else ():
        if old in RENAMED_KEYS:
            raise ConfigError(f"config key {dotted(where, 'evaluate.' + old)} is now {dotted(where, 'evaluate.' + RENAMED_KEYS[old])}")


def validate_settings(settings: FederatedSettings, where: str = "") -> None:
    """Check the shared settings; keys are named under ``where`` (e.g. ``federated.rounds``)."""
    k = lambda key: dotted(where, key)  # noqa: E731
    local, personalize, engine = settings.local, settings.personalize, settings.simulation
    checks = [
        (settings.rounds >= 0, f"{k('rounds')} must be >= 0"),
        (0 < settings.fraction_train <= 1, f"{k('fraction_train')} must be in (0, 1]"),
        (settings.min_train_clients >= 1, f"{k('min_train_clients')} must be >= 1"),
        (settings.max_clients is None or settings.max_clients >= 1, f"{k('max_clients')} must be >= 1"),
        (local.epochs >= 0, f"{k('local.epochs')} must be >= 0"),
        (personalize.epochs >= 0, f"{k('personalize.epochs')} must be >= 0"),
        (local.lr > 0, f"{k('local.lr')} must be > 0"),
        (personalize.lr > 0, f"{k('personalize.lr')} must be > 0"),
        (personalize.params in PARAM_GROUPS, f"{k('personalize.params')} must be one of {', '.join(PARAM_GROUPS)}"),
        (0 <= engine.inject_failure_fraction < 1, f"{k('simulation.inject_failure_fraction')} must be in [0, 1)"),
        (engine.num_cpus_per_client > 0, f"{k('simulation.num_cpus_per_client')} must be > 0"),
        (engine.devices_per_node >= 1, f"{k('simulation.devices_per_node')} must be >= 1"),
        (not (personalize.dp.enabled and personalize.adversarial),
         f"{k('personalize.dp')} cannot be combined with {k('personalize.adversarial')} (DP-SGD here takes one "
         f"forward pass per step); set {k('personalize.adversarial')}: false"),
        (settings.privacy.rounds.mode != "server_adaptive" or engine.devices_per_node == 1,
         f"{k('privacy.rounds.mode')} server_adaptive counts clipped updates per Flower message; "
         f"set {k('simulation.devices_per_node')}: 1"),
    ]
    check_all(checks)
    settings.evaluate.validate(k("evaluate"))
    personalize.dp.validate(k("personalize.dp"))
    settings.privacy.validate(k("privacy"))


def validate(config: SimulationConfig) -> SimulationConfig:
    algorithm_params(config.algorithm, "algorithm")
    validate_settings(config)
    return config


def validate_section(section: FederatedSection, where: str = "federated") -> FederatedSection:
    """Check every algorithm entry (and that none is named twice) and the shared settings."""
    names = [algorithm_name(entry, f"{where}.algorithms[{i}]") for i, entry in enumerate(section.algorithms)]
    for i, entry in enumerate(section.algorithms):
        algorithm_params(entry, f"{where}.algorithms[{i}]")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"config key {where}.algorithms lists a name twice: {repeated[0]} (one federation per algorithm)")
    validate_settings(section, where)
    return section


def config_from_mapping(mapping: dict[str, Any]) -> SimulationConfig:
    check_moved_keys(mapping)
    return validate(dataclass_from_mapping(SimulationConfig, mapping))


def section_from_mapping(mapping: dict[str, Any], where: str = "federated") -> FederatedSection:
    """The run config's federated section from its YAML mapping, validated (moved keys included)."""
    check_moved_keys(mapping, where, algorithm_key=f"{where}.algorithms")
    if isinstance(mapping, dict) and not isinstance(mapping.get("algorithms", []), list):
        raise ConfigError(f"config key {where}.algorithms must be a list of algorithms, got {mapping['algorithms']!r}")
    return validate_section(dataclass_from_mapping(FederatedSection, mapping, where), where)


def simulation_config_for(section: FederatedSection, entry: Any, data: str, model: str, seed: int) -> SimulationConfig:
    """The federation of one of the section's algorithms; errors name keys under ``federated.``."""
    index = next((i for i, e in enumerate(section.algorithms) if e == entry), None)
    where = "federated.algorithms" if index is None else f"federated.algorithms[{index}]"
    algorithm_params(entry, where)
    settings = {f.name: copy.deepcopy(getattr(section, f.name)) for f in dataclasses.fields(FederatedSettings)}
    config = SimulationConfig(**settings, data=data, model=model, algorithm=copy.deepcopy(entry), seed=seed)
    validate_settings(config, "federated")
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SimulationConfig:
    return load_config_file(config_from_mapping, path, overrides)
