"""The `fedrobust search` config: what to search, how to score a candidate, the budget.

    distill:                            # the base distill config: objectives, schedule, hand-designed student
      extends: distill_full.yaml        # (relative to this file)
      train: {epochs: 3}                # merged into it: the per-candidate budget
    space: {bigru_attention: {hidden: [32, 64]}, ...}   # default: fedrobust.search.space.DEFAULT_SPACE
    strategy: {name: evolution, options: {population: 6, offspring: 4}}
    candidates: 16                      # evaluations the strategy may spend (every rung's count)
    objectives: [{metric: val_adversarial_acc, goal: max}, ...]
    execution: {backend: local}         # or ray (fedrobust.search.execution)
    selection: {max_interval: 0.03}     # refuse validation sets too small (fedrobust.search.intervals)
    store: null                         # a candidate store shared between searches (default: OUT)
    final: {distill: {extends: distill_full.yaml}, seeds: [0, 1, 2]}   # `fedrobust search-final`
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import fedrobust.search.evolution  # noqa: F401  (registers the strategies)
import fedrobust.search.halving  # noqa: F401
import fedrobust.search.random_search  # noqa: F401
from fedrobust.config_schema import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    Limit,
    check_limits,
    check_parameters,
    dotted,
    load_config,
    resolve_extends,
    validated,
)
from fedrobust.distill.config import config_from_mapping as distill_config_from_mapping
from fedrobust.errors import ConfigError
from fedrobust.evaluation.config import RENAMED_KEYS as RENAMED_ATTACK_KEYS
from fedrobust.evaluation.config import AttackEvalConfig, ThreatModel
from fedrobust.search.execution import ExecutionSection
from fedrobust.search.fidelity import Fidelity, full_fidelity
from fedrobust.search.final_config import FinalSection
from fedrobust.search.intervals import SelectionSection
from fedrobust.search.pareto import Bound, Objective
from fedrobust.search.space import SearchSpace, space_from_mapping
from fedrobust.search.strategy import SEARCH_STRATEGIES, SearchStrategy

# What an evaluation measures (val_*: on the held-out part of the public train split) and which
# direction is better; bounds on a metric (feasible, export.at_least) follow that direction.
METRIC_GOALS = {
    "val_natural_acc": "max", "val_adversarial_acc": "max", "val_natural_acc_attacked": "max",
    "val_attack_success_rate": "min", "val_top_class_share": "min", "val_constant": "min",
    "params": "min", "bytes_fp32": "min", "bytes_int8": "min", "latency_ms": "min",
}
METRICS = tuple(METRIC_GOALS)
NOT_CONSTANT = {"val_constant": 0.0}  # the bound every search applies unless `feasible` sets val_constant
DEFAULT_OBJECTIVES = [
    {"metric": "val_natural_acc", "goal": "max"},
    {"metric": "val_adversarial_acc", "goal": "max"},
    {"metric": "params", "goal": "min"},
]
# ranges of the strategies' constructor parameters by name (their int parameters are counts: >= 1)
STRATEGY_LIMITS: dict[str, Limit] = dict.fromkeys(("crossover_rate", "mutation_rate", "family_rate"), FRACTION)


@dataclass
class StrategySection:
    name: str = "evolution"
    options: dict[str, Any] = field(default_factory=dict)  # constructor keys of the strategy


@dataclass
class EvaluationSection(AttackEvalConfig):
    """How a candidate is scored: the shared attack-evaluation keys on the validation texts, plus
    latency and the final front's test-split sample."""

    # candidates are scored under the first threat only; more would multiply every candidate's cost
    attacks: list[ThreatModel] = field(default_factory=lambda: [ThreatModel("fast_deepwordbug")])
    examples: int | None = 100  # seeded sample of the validation texts, the same for every candidate
    latency_examples: int = 100
    test_examples: int | None = 200  # only for `fedrobust search-test`: the selection on the public test split

    RENAMED_KEYS: ClassVar[dict[str, str]] = {**RENAMED_ATTACK_KEYS, "test_attack_examples": "test_examples"}
    LIMITS: ClassVar[dict[str, Limit]] = dict.fromkeys(("examples", "latency_examples", "test_examples"), AT_LEAST_ONE)

    def validate(self, where: str = "evaluation") -> None:
        super().validate(where)
        check_limits(self, where)


@dataclass
class ExportSection:
    to: str | None = None  # copy the chosen student (a `save_model` folder) here
    candidate: str | None = None  # a candidate key; default: pick from the Pareto front
    prefer: str = "val_adversarial_acc"  # the front member with the best value of this objective...
    at_least: dict[str, float] = field(default_factory=dict)  # ...among those within these bounds


@dataclass
class SearchConfig:
    # the base distill config, resolved: `distill: {extends: distill_full.yaml, train: {epochs: 3}}`
    distill: dict[str, Any]
    data: str | None = None  # default: the base distill config's
    teacher: str | None = None
    space: dict[str, Any] | None = None
    strategy: StrategySection = field(default_factory=StrategySection)
    candidates: int = 16
    objectives: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_OBJECTIVES))
    # Bounds a candidate must meet to be on the front / to survive in evolution, e.g.
    # {val_natural_acc: 0.7}; minimised metrics (params) get a ceiling. A near-constant classifier
    # "survives" every attack and would own the robustness end of the front: it is infeasible
    # whatever this holds (feasible_limits).
    feasible: dict[str, float] = field(default_factory=dict)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    reference: bool = True  # also score the base config's (hand-designed) student, outside the budget
    export: ExportSection = field(default_factory=ExportSection)
    seed: int = 0
    threads: int = 1  # torch intra-op threads of every trial, on every backend (results depend on it)
    execution: ExecutionSection = field(default_factory=ExecutionSection)
    selection: SelectionSection = field(default_factory=SelectionSection)
    store: str | None = None  # a folder of candidate results shared by searches of the same evaluation setting
    final: FinalSection = field(default_factory=FinalSection)

    LIMITS: ClassVar[dict[str, Limit]] = {"candidates": AT_LEAST_ONE, "threads": AT_LEAST_ONE, "seed": NON_NEGATIVE}
    RENAMED_KEYS: ClassVar[dict[str, str]] = {
        "distill_overrides": "distill (write distill: {extends: BASE.yaml, train: {epochs: 3}, ...})",
        "test_front": "`fedrobust search-test OUT` after the search (a search reads no test text; delete test_front)"}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def distill_mapping(self) -> dict[str, Any]:
        """The base distill config with this search's data and teacher folders."""
        paths = {key: getattr(self, key) for key in ("data", "teacher") if getattr(self, key) is not None}
        return {**self.distill, **paths}

    def search_space(self) -> SearchSpace:
        return space_from_mapping(self.space)

    def objective_list(self) -> list[Objective]:
        return [Objective(o["metric"], o.get("goal", "max")) for o in self.objectives]

    def feasible_limits(self) -> dict[str, float]:
        """`feasible` with EVALUATION.md's constant-model rule first: a candidate that predicts one
        class for >= 90% of the validation texts is never feasible (`feasible: {val_constant: 1}`
        lifts it). The evaluator's val_constant flag decides it, so the rule holds even where the
        majority-label rate is above a `val_natural_acc` floor."""
        return {**NOT_CONSTANT, **self.feasible}

    def bounds(self) -> list[Bound]:
        return bounds_of(self.feasible_limits())

    def full_fidelity(self) -> Fidelity:
        """The full per-candidate budget: the base distill config's epochs, every training row."""
        return full_fidelity(self.distill_mapping)

    def build_strategy(self) -> SearchStrategy:
        return SEARCH_STRATEGIES.get(self.strategy.name)(**self.strategy.options)

    def final_distill_mapping(self, student: dict[str, Any], seed: int) -> dict[str, Any]:
        """The distill config `search-final` trains ``student`` with: final.distill (or the search's own),
        this search's data and teacher, the given seed."""
        base = self.final.distill if self.final.distill is not None else self.distill
        paths = {key: self.distill_mapping[key] for key in ("data", "teacher") if key in self.distill_mapping}
        return {**base, **paths, "student": student, "seed": seed}

    def evaluation_fingerprint(self) -> dict[str, Any]:
        """What a stored result depends on: a resumed search must not mix results of two settings."""
        return {"distill": self.distill_mapping, "evaluation": dataclasses.asdict(self.evaluation)}

    def validate(self, where: str = "") -> None:
        key = lambda name: dotted(where, name)  # noqa: E731
        check_limits(self, where)
        strategy = SEARCH_STRATEGIES.get(self.strategy.name)
        if hasattr(strategy, "SETTINGS"):  # a strategy with a settings dataclass validates its own options
            validated(strategy.SETTINGS, self.strategy.options, key("strategy.options"))
        else:
            check_parameters(strategy, self.strategy.options, key("strategy.options"), limits=STRATEGY_LIMITS)
        if not self.objectives:
            raise ConfigError(f"config key {key('objectives')} is empty; give e.g. [{{metric: val_adversarial_acc, goal: max}}]")
        for i, objective in enumerate(self.objectives):
            if not isinstance(objective, dict) or set(objective) - {"metric", "goal"} or "metric" not in objective:
                raise ConfigError(f"config key {key('objectives')}[{i}] must be {{metric: NAME, goal: max|min}}, "
                                  f"got {objective!r}")
            if objective["metric"] not in METRICS:
                raise ConfigError(f"config key {key('objectives')}[{i}].metric: unknown {objective['metric']!r}; "
                                  f"one of {METRICS}")
        self.objective_list()
        for section, limits in (("export.at_least", self.export.at_least), ("feasible", self.feasible)):
            for metric in limits:
                if metric not in METRICS:
                    raise ConfigError(f"config key {key(section)}.{metric}: unknown metric; one of {METRICS}")
        if self.export.prefer not in METRICS:
            raise ConfigError(f"config key {key('export.prefer')}: unknown metric {self.export.prefer!r}; one of {METRICS}")
        self.evaluation.validate(key("evaluation"))
        distill_config_from_mapping(self.distill_mapping, key("distill"))  # the base student and every objective
        self.search_space()
        self.execution.validate(key("execution"))
        self.selection.validate(key("selection"))
        self.final.validate(key("final"))
        if self.final.distill is not None:
            distill_config_from_mapping(self.final_distill_mapping(self.distill["student"], self.seed), key("final.distill"))
        check = getattr(self.build_strategy(), "check", None)
        if check is not None:  # e.g. successive halving: its rungs fit the budget and differ
            check(self.full_fidelity(), self.candidates)


def bounds_of(limits: dict[str, float]) -> list[Bound]:
    return [Bound(metric, float(value), METRIC_GOALS[metric]) for metric, value in limits.items()]


def tune_only(where: str, base: dict[str, Any], update: dict[str, Any]) -> None:
    """The per-candidate changes must tune the base method, not add to it: a misspelt or renamed
    objective would otherwise join the loss with default settings."""
    if where != "distill":
        return
    have = set(base.get("objectives") or {})
    added = sorted(set(update.get("objectives") or {}) - have)
    if added:
        raise ConfigError(f"config key distill.objectives.{added[0]} is not an objective of the base distill config "
                          f"(distill.extends); it has: {', '.join(sorted(have))}")


def config_from_mapping(mapping: dict[str, Any], base_dir: str | Path = ".") -> SearchConfig:
    """Validate a search mapping; ``extends`` files are read relative to ``base_dir`` (the config's folder)."""
    if isinstance(mapping.get("distill"), str):
        raise ConfigError(f"config key distill: write distill: {{extends: {mapping['distill']}}} "
                          "(and the per-candidate changes beside extends)")
    mapping = resolve_extends(mapping, Path(base_dir) / "<search config>", on_merge=tune_only)
    return validated(SearchConfig, mapping)


def load_search_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SearchConfig:
    """A search YAML (``extends:`` resolved, in ``distill:`` too) with dotted ``--set`` overrides, validated."""
    return load_config(lambda mapping: config_from_mapping(mapping, Path(path).parent), path, overrides,
                       on_merge=tune_only)
