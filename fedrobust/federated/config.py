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
from typing import Any, ClassVar

import yaml

from fedrobust.config_schema import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    POSITIVE,
    Limit,
    check_all,
    check_limit,
    check_limits,
    dataclass_from_mapping,
    dotted,
    named_entry,
    validated,
)
from fedrobust.config_schema import load_config as load_config_file
from fedrobust.errors import ConfigError
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION
from fedrobust.evaluation.config import RENAMED_KEYS, DeviceAttackEvalConfig
from fedrobust.federated.algorithms.registry import ALGORITHMS, build_algorithm  # importing it registers every algorithm
from fedrobust.federated.dp_scope import check_dp_scope
from fedrobust.federated.engine_scope import check_local_engine
from fedrobust.federated.server_optimizers import parse_server_optimizer
from fedrobust.privacy.config import DPConfig, PrivacyConfig

# In a DP federation's fingerprint, so that no result of an earlier DP-SGD is reused: 1 when each
# text's own gradient was first clipped (opacus_compat.PackedBatchOrder), 2 when the BiGRU-attention
# student's per-sample gradients came from fedrobust.privacy.stacked_dp_sgd (other random draws).
DP_SGD_VERSION = 2

PARAM_GROUPS = ("all", "head", "adapters")
DEFAULT_ALGORITHM = "robust_student"
# The model every algorithm of a federation starts from: "student" the distilled student (the
# config's ``model``); "public" the same architecture trained with plain cross-entropy on the public
# split, no teacher and no adversarial objective (``model`` is then that artifact); "fresh" the
# architecture of ``model`` with new seeded weights.
INITS = ("student", "public", "fresh")
DEFAULT_INIT = "student"
INIT_KEY = "init"
OPTIMIZER_KEY = "server_optimizer"
# keys of an algorithm entry that set the federation around the algorithm, not the algorithm itself
ENTRY_FEDERATION_KEYS = (INIT_KEY, OPTIMIZER_KEY)


ENGINES = ("per_device", "stacked")  # of local.engine and personalize.engine


@dataclass
class LocalTrainConfig:
    """Local training in federated rounds."""

    epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 16
    adversarial: bool = False  # embedding-space PGD adversarial training
    adversarial_epsilon: float = 0.05
    adversarial_steps: int = 1
    # per_device: each device trains alone; stacked: a node trains its devices together
    # (fedrobust.federated.stacked_rounds; FedAvg-style plain local training of bigru_attention
    # students). Like personalize.engine, the choice is part of the results.
    engine: str = "per_device"

    # epochs 0: the device sends back the model it received (evaluation-only rounds)
    LIMITS: ClassVar[dict[str, Limit]] = {"epochs": NON_NEGATIVE, "lr": POSITIVE, "batch_size": AT_LEAST_ONE,
                                          "adversarial_epsilon": NON_NEGATIVE, "adversarial_steps": AT_LEAST_ONE}


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
    # per_device: each device fine-tunes alone (torch's packed GRU); stacked: a node fine-tunes its
    # devices together (fedrobust.federated.stacked_personalization; bigru_attention students, all
    # weights, no DP or adversarial objective). The two give different (equally good) models, so
    # the choice is part of the results; within one engine, results do not depend on devices_per_node.
    engine: str = "per_device"

    # epochs 0: the personalized model is the global one
    LIMITS: ClassVar[dict[str, Limit]] = {**LocalTrainConfig.LIMITS, "adapter_dim": AT_LEAST_ONE}


@dataclass
class SimulationEngineConfig:
    """Where and how the federation runs, and how long the server waits (fedrobust.federated.delivery).

    The server waits as long as a phase makes progress (a reply, or a device done on any node); when
    nothing at all has happened for ``stall_timeout_s`` it sends the pending messages again, at most
    ``max_retries`` times, before their devices count as failed ("no reply after N tries"). Unset,
    the stall window scales with the work: max(300 s, 10 x the longest wait between two progress
    events seen so far in the run). Until a phase's first progress event (start-up) it is at least 300 s.

    ``timeout_s`` is the old name of ``stall_timeout_s`` and is read as it: it used to bound each
    round's wall time (900 s), which dropped cohorts that were only queued behind others under load.
    """

    backend: str = "ray"
    num_cpus_per_client: float = 1.0
    num_gpus_per_client: float = 0.0
    ray_address: str | None = None  # an existing Ray cluster, e.g. "127.0.0.1:6379" or "auto"
    stall_timeout_s: float | None = None  # seconds without any progress before a resend; None: scales with the work
    timeout_s: float | None = None  # deprecated: read as stall_timeout_s
    max_retries: int = 2  # resends of a stalled message before its devices count as failed
    # share of each phase's devices (a round's sampled ones, the evaluated ones) that must succeed, else the
    # federation fails (fedrobust.federated.failures); None: all, except those failure injection makes fail
    min_success_share: float | None = None
    inject_failure_fraction: float = 0.0  # devices that raise on purpose, to test fault tolerance
    inject_delay_s: float = 0.0  # test knob: each of inject_delay_devices sleeps this long each time it runs
    inject_delay_devices: list[int] = field(default_factory=list)
    devices_per_node: int = 1  # devices each Flower node simulates in turn (fedrobust.federated.cohorts)

    LIMITS: ClassVar[dict[str, Limit]] = {
        "stall_timeout_s": POSITIVE, "timeout_s": POSITIVE, "max_retries": NON_NEGATIVE,
        "min_success_share": Limit(0, 1), "inject_failure_fraction": Limit(0, 1), "inject_delay_s": NON_NEGATIVE,
        "inject_delay_devices": NON_NEGATIVE, "devices_per_node": AT_LEAST_ONE,
    }

    @property
    def stall_window_s(self) -> float | None:
        """The fixed stall window, None when it scales with the work (``timeout_s``: its old name)."""
        return self.stall_timeout_s if self.stall_timeout_s is not None else self.timeout_s


@dataclass(kw_only=True)
class FederatedSettings:
    """Everything about a federation except its data, model, seed and algorithm."""

    init: str = DEFAULT_INIT  # student | public | fresh; an algorithm entry may override it: {fedavg: {init: public}}
    rounds: int = 3
    fraction_train: float = 0.2
    min_train_clients: int = 2
    max_clients: int | None = None  # use only the first N device clients (quick runs)
    local: LocalTrainConfig = field(default_factory=LocalTrainConfig)
    personalize: PersonalizeConfig = field(default_factory=PersonalizeConfig)
    evaluate: DeviceAttackEvalConfig = field(default_factory=DeviceAttackEvalConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    simulation: SimulationEngineConfig = field(default_factory=SimulationEngineConfig)
    # Flower's server optimizer over each round's averaged update (fedrobust.federated.server_optimizers):
    # fedavgm | fedadam | fedyogi | fedadagrad, or {fedadam: {eta: 0.01}}; None: the plain average (FedAvg)
    server_optimizer: Any = None

    # rounds 0: no federated round, only the on-device phase (configs/privacy_sweep.yaml)
    LIMITS: ClassVar[dict[str, Limit]] = {"rounds": NON_NEGATIVE, "fraction_train": Limit(0, 1, open_low=True),
                                          "min_train_clients": AT_LEAST_ONE, "max_clients": AT_LEAST_ONE}


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
    # the teacher's model folder, read by the server only: evaluate.explanation_agreement compares
    # each device's attributions with the teacher's (fedrobust.federated.device_explanations)
    teacher: str | None = None

    LIMITS: ClassVar[dict[str, Limit]] = {**FederatedSettings.LIMITS, "seed": NON_NEGATIVE}

    @property
    def algorithm_name(self) -> str:
        return algorithm_name(self.algorithm, "algorithm")

    @property
    def algorithm_params(self) -> Any:
        """The algorithm's settings: an instance of its ``Params`` dataclass."""
        return algorithm_params(self.algorithm, "algorithm")

    @property
    def label(self) -> str:
        """How tables name this federation: the algorithm, with its start when that is not the student."""
        return federation_label(self.algorithm_name, self.init, self.server_optimizer)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of everything that changes results (engine settings do not)."""
        relevant = {k: v for k, v in without_idle_explanation_keys(self.to_dict()).items() if k != "simulation"}
        relevant["inject_failure_fraction"] = self.simulation.inject_failure_fraction
        relevant.update(self.code_versions())
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]

    def code_versions(self) -> dict[str, int]:
        """Versions of computations whose results changed without a config key changing; every
        fingerprint of this federation (its own, the pipeline stage's) includes them."""
        return {"dp_per_sample_order": DP_SGD_VERSION} if self.personalize.dp.enabled else {}


def without_idle_explanation_keys(mapping: dict[str, Any]) -> dict[str, Any]:
    """A config mapping without the explanation-agreement keys while that setting is off (they change
    no result then), without ``evaluate.attribution`` and ``personalize.engine`` at their defaults:
    runs from before the keys existed keep their fingerprint (and resume)."""
    for section in ("local", "personalize"):
        values = mapping.get(section)
        if isinstance(values, dict) and values.get("engine", "per_device") == "per_device":
            mapping = {**mapping, section: {k: v for k, v in values.items() if k != "engine"}}
    evaluate = mapping.get("evaluate", {})
    if evaluate.get("explanation_agreement"):
        if evaluate.get("attribution", DEFAULT_ATTRIBUTION) != DEFAULT_ATTRIBUTION:
            return mapping
        return {**mapping, "evaluate": {k: v for k, v in evaluate.items() if k != "attribution"}}
    mapping = {k: v for k, v in mapping.items() if k != "teacher"}
    mapping["evaluate"] = {k: v for k, v in evaluate.items()
                           if k not in ("explanation_agreement", "top_k", "attribution")}
    return mapping


def check_teacher(config: SimulationConfig) -> None:
    """explanation_agreement compares with a teacher, so the config must name one."""
    if config.evaluate.explanation_agreement and not config.teacher:
        raise ConfigError("config key evaluate.explanation_agreement needs config key teacher: the teacher's model "
                          "folder (a `fedrobust teacher` output's model/); `fedrobust run` gives its teacher stage's")


def _entry(entry: Any, where: str) -> tuple[str, Any]:
    """(name, params mapping or None) of an algorithm entry: ``name`` or ``{name: {params}}``;
    the entry's ``init`` and ``server_optimizer`` are not among the algorithm's params."""
    name, params = named_entry(algorithm_only(entry), where, "an algorithm", "{ditto: {lam: 0.1}}")
    if name not in ALGORITHMS:
        raise ConfigError(f"config key {where}: unknown federated algorithm {name!r}; known: {', '.join(ALGORITHMS.names())}")
    return name, params


def entry_init(entry: Any, default: str, where: str) -> str:
    """The starting model an algorithm entry asks for (``{fedavg: {init: public}}``), else ``default``."""
    params = next(iter(entry.values())) if isinstance(entry, dict) and len(entry) == 1 else None
    init = params.get(INIT_KEY, default) if isinstance(params, dict) else default
    name = next(iter(entry)) if isinstance(entry, dict) else entry
    if init not in INITS:
        raise ConfigError(f"config key {where}.{name}.{INIT_KEY} must be one of {', '.join(INITS)}, got {init!r}")
    return init


def entry_server_optimizer(entry: Any, default: Any) -> Any:
    """The server optimizer an algorithm entry asks for (``{fedavg: {server_optimizer: fedadam}}``), else ``default``."""
    params = next(iter(entry.values())) if isinstance(entry, dict) and len(entry) == 1 else None
    return params.get(OPTIMIZER_KEY, default) if isinstance(params, dict) else default


def algorithm_only(entry: Any) -> Any:
    """The entry without its ``init`` and ``server_optimizer`` keys (the algorithm's own settings only)."""
    if not isinstance(entry, dict) or len(entry) != 1:
        return entry
    name, params = next(iter(entry.items()))
    if not isinstance(params, dict) or not any(key in params for key in ENTRY_FEDERATION_KEYS):
        return entry
    rest = {k: v for k, v in params.items() if k not in ENTRY_FEDERATION_KEYS}
    return {name: rest} if rest else name


def federation_label(name: str, init: str, server_optimizer: Any = None) -> str:
    """``fedavg_ft`` when it starts from the distilled student with the plain average,
    ``fedavg_ft@public`` from another start, ``fedavg_ft+fedadam`` under a server optimizer (the
    start comes last, so that report.pairs can pair an algorithm with itself from the other start)."""
    parsed = parse_server_optimizer(server_optimizer)
    label = name if parsed is None else f"{name}+{parsed[0].name}"
    return label if init == DEFAULT_INIT else f"{label}@{init}"


def entry_label(entry: Any, default_init: str, where: str, default_optimizer: Any = None) -> str:
    return federation_label(algorithm_name(entry, where), entry_init(entry, default_init, where),
                            entry_server_optimizer(entry, default_optimizer))


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
    # a config built in code (not read from a file) has not met its LIMITS yet
    check_limits(settings, where)
    check_limits(local, k("local"))
    check_limits(personalize, k("personalize"))
    check_engine_resources(engine, k("simulation"))
    check_engine_waiting(engine, k("simulation"))
    checks = [
        (settings.init in INITS, f"{k('init')} must be one of {', '.join(INITS)}, got {settings.init!r}"),
        (personalize.params in PARAM_GROUPS, f"{k('personalize.params')} must be one of {', '.join(PARAM_GROUPS)}"),
        (not (personalize.dp.enabled and personalize.adversarial),
         f"{k('personalize.dp')} cannot be combined with {k('personalize.adversarial')} (DP-SGD here takes one "
         f"forward pass per step); set {k('personalize.adversarial')}: false"),
        (local.engine in ENGINES,
         f"{k('local.engine')} must be one of {', '.join(ENGINES)}, got {local.engine!r}"),
        (personalize.engine in ENGINES,
         f"{k('personalize.engine')} must be one of {', '.join(ENGINES)}, got {personalize.engine!r}"),
        (personalize.engine != "stacked" or (personalize.params == "all" and not personalize.adversarial
                                             and not personalize.dp.enabled),
         f"{k('personalize.engine')} stacked trains every weight without DP-SGD or an adversarial objective; "
         f"set {k('personalize.params')}: all, {k('personalize.adversarial')}: false and no {k('personalize.dp')}, "
         f"or {k('personalize.engine')}: per_device"),
        (settings.privacy.rounds.mode != "server_adaptive" or engine.devices_per_node == 1,
         f"{k('privacy.rounds.mode')} server_adaptive counts clipped updates per Flower message; "
         f"set {k('simulation.devices_per_node')}: 1"),
    ]
    check_all(checks)
    parse_server_optimizer(settings.server_optimizer, k("server_optimizer"))
    settings.evaluate.validate(k("evaluate"))
    personalize.dp.validate(k("personalize.dp"))
    settings.privacy.validate(k("privacy"))


def check_engine_resources(engine: SimulationEngineConfig, where: str = "simulation") -> None:
    """What Ray is asked for: a negative GPU share would make Ray wait forever for a node to offer it."""
    check_limit(engine.num_cpus_per_client, POSITIVE, f"config key {where}.num_cpus_per_client")
    check_limit(engine.num_gpus_per_client, NON_NEGATIVE, f"config key {where}.num_gpus_per_client")


def check_engine_waiting(engine: SimulationEngineConfig, where: str = "simulation") -> None:
    """The stall window, retries, success share and injected faults (SimulationEngineConfig)."""
    check_limits(engine, where)
    both = engine.stall_timeout_s is not None and engine.timeout_s is not None
    if both and engine.stall_timeout_s != engine.timeout_s:
        raise ConfigError(f"config keys {where}.timeout_s ({engine.timeout_s:g}) and {where}.stall_timeout_s "
                          f"({engine.stall_timeout_s:g}) disagree; timeout_s is the old name of stall_timeout_s: "
                          f"give stall_timeout_s only")


def validate(config: SimulationConfig) -> SimulationConfig:
    algorithm_params(config.algorithm, "algorithm")
    asked = entry_init(config.algorithm, config.init, "algorithm")
    if asked != config.init and config.init != DEFAULT_INIT:
        raise ConfigError(f"config keys init ({config.init}) and algorithm.{config.algorithm_name}.init ({asked}) "
                          "disagree; give one of them")
    optimizer = entry_server_optimizer(config.algorithm, config.server_optimizer)
    if optimizer != config.server_optimizer and config.server_optimizer is not None:
        raise ConfigError(f"config keys server_optimizer ({config.server_optimizer}) and "
                          f"algorithm.{config.algorithm_name}.server_optimizer ({optimizer}) disagree; give one of them")
    config.init, config.server_optimizer, config.algorithm = asked, optimizer, algorithm_only(config.algorithm)
    validate_settings(config)
    check_teacher(config)
    algorithm = build_algorithm(config.algorithm_name, config.algorithm_params)
    check_dp_scope(config, algorithm, "algorithm")
    check_local_engine(config, algorithm, "algorithm")
    return config


def validate_section(section: FederatedSection, where: str = "federated") -> FederatedSection:
    """Check every algorithm entry (and that no algorithm and start is named twice) and the shared settings."""
    validate_settings(section, where)
    for i, entry in enumerate(section.algorithms):
        entry_where = f"{where}.algorithms[{i}]"
        params = algorithm_params(entry, entry_where)
        parse_server_optimizer(entry_server_optimizer(entry, None),
                               f"{entry_where}.{algorithm_name(entry, entry_where)}.{OPTIMIZER_KEY}")
        algorithm = build_algorithm(algorithm_name(entry, entry_where), params)
        check_dp_scope(section, algorithm, entry_where, where)
        check_local_engine(section, algorithm, entry_where, where)
    labels = [entry_label(entry, section.init, f"{where}.algorithms[{i}]", section.server_optimizer)
              for i, entry in enumerate(section.algorithms)]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"config key {where}.algorithms lists {repeated[0]} twice (one federation per algorithm, "
                          f"start and server optimizer; give a second start with {{name: {{init: public}}}} or a "
                          f"server optimizer with {{name: {{server_optimizer: fedadam}}}})")
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


def simulation_config_for(section: FederatedSection, entry: Any, data: str, model: str, seed: int,
                          teacher: str | None = None) -> SimulationConfig:
    """The federation of one of the section's algorithms; errors name keys under ``federated.``
    (``teacher``: the teacher's model folder, for ``evaluate.explanation_agreement``)."""
    index = next((i for i, e in enumerate(section.algorithms) if e == entry), None)
    where = "federated.algorithms" if index is None else f"federated.algorithms[{index}]"
    algorithm_params(entry, where)
    settings = {f.name: copy.deepcopy(getattr(section, f.name)) for f in dataclasses.fields(FederatedSettings)}
    settings[INIT_KEY] = entry_init(entry, section.init, where)
    settings[OPTIMIZER_KEY] = copy.deepcopy(entry_server_optimizer(entry, section.server_optimizer))
    config = SimulationConfig(**settings, data=data, model=model, algorithm=algorithm_only(copy.deepcopy(entry)),
                              seed=seed, teacher=teacher)
    validate_settings(config, "federated")
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SimulationConfig:
    return load_config_file(config_from_mapping, path, overrides)
