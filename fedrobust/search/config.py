"""The `fedrobust search` config: what to search, how to score a candidate, the budget.

    distill: distill_full.yaml          # base distill config (relative to this file): objectives, schedule
    distill_overrides: {train: {epochs: 3}}   # merged into it: the per-candidate budget
    space: {bigru_attention: {hidden: [32, 64]}, ...}   # default: fedrobust.search.space.DEFAULT_SPACE
    strategy: {name: evolution, options: {population: 6, offspring: 4}}
    candidates: 16                      # evaluations the strategy may spend
    objectives: [{metric: val_adv_acc, goal: max}, ...]
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrobust.config_schema import check_parameters, dataclass_from_mapping, read_yaml_mapping
from fedrobust.errors import ConfigError
from fedrobust.search.pareto import Bound, Objective
from fedrobust.search.space import SearchSpace, space_from_mapping

# What an evaluation measures (val_*: on the held-out part of the public train split) and which
# direction is better; bounds on a metric (feasible, export.at_least) follow that direction.
METRIC_GOALS = {
    "val_natural_acc": "max", "val_adv_acc": "max", "val_clean_acc_attacked": "max",
    "val_attack_success_rate": "min", "params": "min", "bytes_fp32": "min", "bytes_int8": "min", "latency_ms": "min",
}
METRICS = tuple(METRIC_GOALS)
DEFAULT_OBJECTIVES = [
    {"metric": "val_natural_acc", "goal": "max"},
    {"metric": "val_adv_acc", "goal": "max"},
    {"metric": "params", "goal": "min"},
]


@dataclass
class StrategySection:
    name: str = "evolution"
    options: dict[str, Any] = field(default_factory=dict)  # constructor keys of the strategy


@dataclass
class EvaluationSection:
    attack: str = "fast_deepwordbug"
    attack_examples: int = 100  # seeded sample of the validation texts, the same for every candidate
    max_queries: int | None = None
    latency_examples: int = 100
    test_attack_examples: int = 200  # only for scoring the final front on the public test split


@dataclass
class ExportSection:
    to: str | None = None  # copy the chosen student (a `save_model` folder) here
    candidate: str | None = None  # a candidate key; default: pick from the Pareto front
    prefer: str = "val_adv_acc"  # the front member with the best value of this objective...
    at_least: dict[str, float] = field(default_factory=dict)  # ...among those within these bounds


@dataclass
class SearchConfig:
    distill: str = "distill_full.yaml"
    distill_overrides: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # default: the base distill config's
    teacher: str | None = None
    space: dict[str, Any] | None = None
    strategy: StrategySection = field(default_factory=StrategySection)
    candidates: int = 16
    objectives: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_OBJECTIVES))
    # Bounds a candidate must meet to be on the front / to survive in evolution, e.g.
    # {val_natural_acc: 0.6}: a near-constant classifier "survives" every attack and would
    # otherwise own the robustness end of the front. Minimised metrics (params) get a ceiling.
    feasible: dict[str, float] = field(default_factory=dict)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    reference: bool = True  # also score the base config's (hand-designed) student, outside the budget
    test_front: bool = True  # after the search, score the front and the reference on the public test split
    export: ExportSection = field(default_factory=ExportSection)
    seed: int = 0
    threads: int = 1
    # filled by load_search_config: the resolved base distill mapping (overrides, data, teacher applied)
    distill_mapping: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def search_space(self) -> SearchSpace:
        return space_from_mapping(self.space)

    def objective_list(self) -> list[Objective]:
        return [Objective(o["metric"], o.get("goal", "max")) for o in self.objectives]

    def bounds(self) -> list[Bound]:
        return bounds_of(self.feasible)

    def evaluation_fingerprint(self) -> dict[str, Any]:
        """What a stored result depends on: a resumed search must not mix results of two settings."""
        return {"distill": self.distill_mapping, "evaluation": dataclasses.asdict(self.evaluation)}


def bounds_of(limits: dict[str, float]) -> list[Bound]:
    return [Bound(metric, float(value), METRIC_GOALS[metric]) for metric, value in limits.items()]


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if both else value
    return merged


def _check(config: SearchConfig) -> SearchConfig:
    from fedrobust.attacks import ATTACKS
    from fedrobust.distill.config import config_from_mapping
    from fedrobust.search.strategy import SEARCH_STRATEGIES

    import fedrobust.search.evolution  # noqa: F401  (registers the strategies)
    import fedrobust.search.random_search  # noqa: F401

    if config.candidates < 1:
        raise ConfigError(f"config key candidates must be >= 1, got {config.candidates}")
    if config.threads < 1:
        raise ConfigError(f"config key threads must be >= 1, got {config.threads}")
    check_parameters(SEARCH_STRATEGIES.get(config.strategy.name), config.strategy.options, "strategy.options")
    if not config.objectives:
        raise ConfigError("config key objectives is empty; give e.g. [{metric: val_adv_acc, goal: max}]")
    for i, objective in enumerate(config.objectives):
        if not isinstance(objective, dict) or set(objective) - {"metric", "goal"} or "metric" not in objective:
            raise ConfigError(f"config key objectives[{i}] must be {{metric: NAME, goal: max|min}}, got {objective!r}")
        if objective["metric"] not in METRICS:
            raise ConfigError(f"config key objectives[{i}].metric: unknown {objective['metric']!r}; one of {METRICS}")
    config.objective_list()
    for section, limits in (("export.at_least", config.export.at_least), ("feasible", config.feasible)):
        for metric in limits:
            if metric not in METRICS:
                raise ConfigError(f"config key {section}.{metric}: unknown metric; one of {METRICS}")
    if config.export.prefer not in METRICS:
        raise ConfigError(f"config key export.prefer: unknown metric {config.export.prefer!r}; one of {METRICS}")
    evaluation = config.evaluation
    if evaluation.attack not in ATTACKS:
        raise ConfigError(f"config key evaluation.attack: unknown {evaluation.attack!r}; one of {ATTACKS.names()}")
    if min(evaluation.attack_examples, evaluation.latency_examples, evaluation.test_attack_examples) < 1:
        raise ConfigError("config keys evaluation.*_examples must be >= 1")
    try:
        config_from_mapping(config.distill_mapping)  # the base student and every objective, checked now
    except ConfigError as exc:
        raise ConfigError(f"base distill config {config.distill} (with distill_overrides): {exc}") from None
    config.search_space()
    return config


def config_from_mapping(mapping: dict[str, Any], base_dir: Path = Path(".")) -> SearchConfig:
    """Validate a search mapping; ``distill`` is read relative to ``base_dir`` (the config's folder)."""
    if "distill_mapping" in mapping:
        raise ConfigError("config key distill_mapping is computed; set distill and distill_overrides instead")
    config: SearchConfig = dataclass_from_mapping(SearchConfig, mapping)
    distill_path = Path(config.distill)
    if not distill_path.is_absolute() and (base_dir / distill_path).is_file():
        distill_path = base_dir / distill_path
    config.distill = str(distill_path.resolve()) if distill_path.is_file() else config.distill
    base = read_yaml_mapping(distill_path)
    # An override must tune the base method, not add to it: a misspelt or renamed objective
    # would otherwise join the loss with default settings.
    added = sorted(set((config.distill_overrides.get("objectives") or {})) - set(base.get("objectives") or {}))
    if added:
        raise ConfigError(f"config key distill_overrides.objectives.{added[0]} is not an objective of {distill_path}; "
                          f"it has: {', '.join(sorted(base.get('objectives') or {}))}")
    base = deep_merge(base, config.distill_overrides)
    for key in ("data", "teacher"):
        if getattr(config, key) is not None:
            base[key] = getattr(config, key)
    config.distill_mapping = base
    return _check(config)


def load_search_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SearchConfig:
    mapping = read_yaml_mapping(path)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, leaf = key.partition(".")
        if leaf:
            mapping.setdefault(section, {})[leaf] = value
        else:
            mapping[key] = value
    try:
        return config_from_mapping(mapping, Path(path).parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
