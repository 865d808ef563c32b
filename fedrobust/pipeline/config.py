"""The `fedrobust run` config: one YAML file for the whole study, validated before any stage runs.

Each section IS the config type of one stage's own command, so every flag of `fedrobust data
prepare`, `fedrobust teacher` and `fedrobust distill` is a key here with the same default
(``--min-samples`` is ``data.min_samples``, ``--augment-copies`` is ``teacher.augment_copies``):

    data:      fedrobust.data.prepare.DataConfig               + path
    teacher:   fedrobust.distill.teacher_pipeline.TeacherConfig + path
    distill:   fedrobust.distill.config.DistillSettings         + path (data, teacher, seed: from the run)
    evaluate:  fedrobust.evaluation.config.AttackEvalConfig     + models, explanation_agreement, top_k, attribution
    federated: fedrobust.federated.config.FederatedSection       (a simulate config's settings + algorithms)

A section's ``path`` key points at an artifact made earlier (your own data, teacher or student) and
replaces that stage. The top-level ``seed`` is every stage's seed. Any section, or the whole file,
may start from another file with ``extends:`` (e.g. ``distill: {extends: distill_full.yaml}``).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fedrobust.config_schema import NON_NEGATIVE, Limit, at_least, dotted, load_config, plain_folder_name, validated
from fedrobust.data.prepare import DataConfig
from fedrobust.distill.config import DistillConfig, DistillSettings
from fedrobust.distill.teacher_pipeline import TeacherConfig
from fedrobust.errors import ConfigError
from fedrobust.evaluation.config import RENAMED_KEYS as RENAMED_ATTACK_KEYS
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION
from fedrobust.evaluation.config import AttackEvalConfig, check_attribution
from fedrobust.federated.config import FederatedSection, algorithm_name, check_moved_keys, entry_init, validate_section

PLACEHOLDER = "<from an earlier stage>"
EVALUATED_MODELS = ("student", "teacher")
RUN_SEED = "the run's top-level seed"


@dataclass
class DataSection(DataConfig):
    path: str | None = None  # a folder written by `fedrobust data prepare` (or a LEAF export of it)

    SET_BY_PARENT: ClassVar[dict[str, str]] = {"seed": RUN_SEED}

    def validate(self, where: str = "data") -> None:
        if self.path is None:
            super().validate(where)


@dataclass
class TeacherSection(TeacherConfig):
    path: str | None = None  # a folder written by `fedrobust teacher`

    SET_BY_PARENT: ClassVar[dict[str, str]] = {"seed": RUN_SEED}

    def validate(self, where: str = "teacher") -> None:
        super().validate(where)


@dataclass(kw_only=True)
class DistillSection(DistillSettings):
    student: dict[str, Any] | None = None  # required unless `path` is given
    path: str | None = None  # a student folder written by `fedrobust distill` (or its student/ subfolder)

    SET_BY_PARENT: ClassVar[dict[str, str]] = {
        "data": "the data stage's folder", "teacher": "the teacher stage's folder", "seed": RUN_SEED}

    def validate(self, where: str = "distill") -> None:
        if self.path is not None:
            return
        if self.student is None:
            raise ConfigError(f"missing config key {dotted(where, 'student')} (or {dotted(where, 'path')}: "
                              "a student made earlier)")
        super().validate(where)

    def distill_config(self, data: str, teacher: str, seed: int) -> DistillConfig:
        """The `fedrobust distill` config this section stands for."""
        settings = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(DistillSettings)}
        return DistillConfig(**settings, data=data, teacher=teacher, seed=seed)

    def public_model_config(self, data: str, teacher: str, seed: int) -> DistillConfig:
        """The federations' ``init: public`` start: the student's architecture, vocabulary and schedule
        trained with cross-entropy on the public split's gold labels only. The teacher folder lends
        its tokenizer and tokenized texts, nothing it learned: no KD, no feature mapping, no
        adversarial objective, no teacher-labelled copies, no teacher embedding table. The epoch is
        chosen on the public validation rows (keep_best_epoch)."""
        config = self.distill_config(data, teacher, seed)
        config.objectives = {"ce": {"weight": 1.0}}
        config.train.use_augmented = config.train.use_transfer = False
        config.train.keep_best_epoch = True
        config.vocabulary.init_from_teacher = False
        return config


@dataclass
class EvaluateSection(AttackEvalConfig):
    """The evaluate stage: the shared attack-evaluation keys (attack, examples, max_queries) on the
    public test split, for each model, and the student's explanation agreement with the teacher."""

    models: list[str] = field(default_factory=lambda: ["student"])  # student, teacher
    explanation_agreement: bool = True  # student vs teacher token attributions on the same texts
    top_k: int = 5
    attribution: str = DEFAULT_ATTRIBUTION  # grad_x_input | integrated_gradients, for both models

    RENAMED_KEYS: ClassVar[dict[str, str]] = RENAMED_ATTACK_KEYS

    def validate(self, where: str = "evaluate") -> None:
        super().validate(where)
        at_least(self.examples, 1, dotted(where, "examples"), allow_none=True)
        unknown = [m for m in self.models if m not in EVALUATED_MODELS]
        if unknown:
            raise ConfigError(f"config key {dotted(where, 'models')}: unknown model {unknown[0]!r}; "
                              f"choose from {', '.join(EVALUATED_MODELS)}")
        at_least(self.top_k, 1, dotted(where, "top_k"))
        check_attribution(self.attribution, dotted(where, "attribution"))


@dataclass
class ReportSection:
    title: str | None = None
    # the paired comparisons' reference algorithm (e.g. fedavg_ft): each algorithm against it from the
    # same start, and each against itself from the other starts; null: every pair
    compare_to: str | None = None


@dataclass
class RunConfig:
    name: str = "run"
    seed: int = 0
    # the federated stages' seed (client sampling, local training order, attack draws); null: seed
    federated_seed: int | None = None
    # repeat the study once per seed into RUN_DIR/seed-<s>/ and aggregate (mean ± sd); `seeds` varies
    # every stage, `federated_seeds` only the federated stages (data, teacher, student shared)
    seeds: list[int] = field(default_factory=list)
    federated_seeds: list[int] = field(default_factory=list)
    out: str | None = None  # default runs/<name>
    # a folder shared by several runs so that identical stages are computed once (default RUN_DIR/stages)
    stage_cache: str | None = None
    data: DataSection = field(default_factory=DataSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    distill: DistillSection = field(default_factory=DistillSection)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    # a `fedrobust simulate` config's settings, and `algorithms`: names or {name: {param: value}}
    federated: FederatedSection = field(default_factory=FederatedSection)
    report: ReportSection = field(default_factory=ReportSection)

    LIMITS: ClassVar[dict[str, Limit]] = dict.fromkeys(("seed", "federated_seed", "seeds", "federated_seeds"),
                                                       NON_NEGATIVE)

    def __post_init__(self) -> None:
        self.data.seed = self.teacher.seed = self.seed  # so that the saved config shows the seed used

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def algorithms(self) -> list[Any]:
        """The federated algorithm entries: names, or {name: {param: value}}."""
        return list(self.federated.algorithms)

    def starts(self) -> set[str]:
        """The starting models (``init``) the federations use."""
        return {entry_init(entry, self.federated.init, "federated.algorithms") for entry in self.federated.algorithms}

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.name

    def data_config(self) -> DataConfig:
        """The data section as `fedrobust data prepare` options, with the run's seed."""
        return DataConfig(**{**self.data.to_dict(), "seed": self.seed})

    def teacher_config(self) -> TeacherConfig:
        """The teacher section as `fedrobust teacher` options, with the run's seed."""
        return TeacherConfig(**{**copy.deepcopy(self.teacher.to_dict()), "seed": self.seed})

    def distill_config(self, data_dir: str, teacher_dir: str) -> DistillConfig:
        return self.distill.distill_config(data_dir, teacher_dir, self.seed)

    def validate(self, where: str = "") -> None:
        plain_folder_name(self.name, dotted(where, "name"))  # runs/<name> when out is not given
        if self.seeds and self.federated_seeds:
            raise ConfigError(f"config keys {dotted(where, 'seeds')} and {dotted(where, 'federated_seeds')}: "
                              "give one of them (seeds varies every stage, federated_seeds only the federation)")
        for key in ("seeds", "federated_seeds"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ConfigError(f"config key {dotted(where, key)} repeats a seed: {values}")
        self.data.validate(dotted(where, "data"))
        self.teacher.validate(dotted(where, "teacher"))
        self.distill.validate(dotted(where, "distill"))
        self.evaluate.validate(dotted(where, "evaluate"))
        validate_section(self.federated, dotted(where, "federated"))
        compared = {algorithm_name(entry, "federated.algorithms") for entry in self.federated.algorithms}
        if self.report.compare_to is not None and self.report.compare_to not in compared:
            raise ConfigError(f"config key {dotted(where, 'report.compare_to')}: {self.report.compare_to!r} is not in "
                              f"federated.algorithms ({', '.join(sorted(compared)) or 'none'})")
        if "public" in self.starts() and self.distill.path is not None:
            raise ConfigError(f"config key {dotted(where, 'federated.init')}: public needs the student's distill "
                              f"settings to train the same architecture on the public split, and {dotted(where, 'distill.path')} "
                              "gives a finished student; drop distill.path or use init student / fresh")

    def training_attacks(self) -> set[str] | None:
        """Attacks the student's training used (its objectives' ``attack`` keys); None when the
        student was made elsewhere (``distill.path``) and its objectives are unknown here."""
        if self.distill.path is not None:
            return None
        return {params["attack"] for params in self.distill.objectives.values()
                if isinstance(params, dict) and "attack" in params}

    def unseen_attacks(self) -> list[str] | None:
        """The evaluated attacks that training never used (None: unknown)."""
        seen = self.training_attacks()
        return None if seen is None else [t.attack for t in self.evaluate.attacks if t.attack not in seen]

    @property
    def seed_list(self) -> tuple[str, list[int]]:
        """Which seed a multi-seed study varies ("seed" or "federated_seed") and its values; no values
        for a single run."""
        return ("federated_seed", self.federated_seeds) if self.federated_seeds else ("seed", self.seeds)

    def for_seed(self, value: int) -> "RunConfig":
        """This study as one run of a multi-seed study, in RUN_DIR/seed-<value>/, sharing its stage cache."""
        key, _ = self.seed_list
        run = copy.deepcopy(self)
        setattr(run, key, value)
        run.seeds, run.federated_seeds = [], []
        run.stage_cache = self.stage_cache or str(self.out_dir() / "stages")
        run.out = str(self.out_dir() / f"seed-{value}")
        run.__post_init__()
        return run


def config_from_mapping(mapping: dict[str, Any]) -> RunConfig:
    if isinstance(mapping, dict):  # keys that moved into algorithm settings fail naming their new form
        check_moved_keys(mapping.get("federated"), "federated", algorithm_key="federated.algorithms")
    return validated(RunConfig, mapping)


def load_run_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a run YAML (and the files it extends), apply ``--set key=value`` overrides, validate every section."""
    return load_config(config_from_mapping, path, overrides, set_by_parent={"distill": tuple(DistillSection.SET_BY_PARENT)})
