"""The `fedrobust distill` config: a YAML file validated into dataclasses before any work starts.

Unknown keys and values of the wrong type raise ConfigError naming the dotted key, e.g.
``objectives.kd.temprature``. Objective and student parameters are checked against the
constructor of the named implementation. Every objective also takes ``weight`` and
``start_epoch`` (1-based; the objective joins the loss from that training epoch on).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import fedrobust.models.students  # noqa: F401  (registers the students)
from fedrobust.config_schema import (
    AT_LEAST_ONE,
    BELOW_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    Limit,
    check_limit,
    check_limits,
    check_parameters,
    check_type,
    dotted,
    validated,
)
from fedrobust.config_schema import load_config as load_file
from fedrobust.distill.compression.admm import AtmcSettings
from fedrobust.distill.compression.methods import COMPRESSION_METHODS
from fedrobust.distill.losses import OBJECTIVES
from fedrobust.errors import ConfigError
from fedrobust.evaluation.config import check_attack_runs
from fedrobust.models.embeddings import EMBEDDING_KEYS
from fedrobust.models.registry import STUDENTS
from fedrobust.seeding import TRAINING_THREADS

# Ranges of student and objective constructor parameters by name (an int parameter not named here is
# a size or a count: config_schema.check_parameters keeps it >= 1, or >= 0 where its default is 0).
STUDENT_LIMITS: dict[str, Limit] = {"dropout": BELOW_ONE}
OBJECTIVE_LIMITS: dict[str, Limit] = {"temperature": POSITIVE, "label_smoothing": BELOW_ONE, "epsilon": NON_NEGATIVE,
                                      "step_size": POSITIVE, "min_teacher_confidence": FRACTION}
EMBEDDING_SWITCHES = ("kind", "train_table")  # the other keys of student.embedding are sizes (seed: >= 0)


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    decay_lr: bool = True  # linear decay to zero over the epochs
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # of the public train split: the public validation texts, scored after every epoch and by
    # metrics.json (the teacher trains on them, the student never does)
    validation_fraction: float = 0.1
    keep_best_epoch: bool = True  # False: keep the last epoch (adversarial training, decayed lr)
    use_augmented: bool = True  # train on the teacher-labelled copies in the cache, if any
    max_augmented_copies: int | None = None  # use at most this many copies per text (None: all)
    use_transfer: bool = True  # train on the teacher-labelled transfer texts in the cache, if any
    token_dropout: float = 0.0  # share of the student's input tokens replaced by [UNK] each step
    # torch CPU threads for `fedrobust distill` and the run's distill stages: the weights depend on the
    # thread count, so it is a setting, not the machine's (a search uses its own `threads` key)
    threads: int = TRAINING_THREADS

    # grad_clip 0: no clipping; max_augmented_copies 0: no copy
    LIMITS: ClassVar[dict[str, Limit]] = {
        "epochs": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "lr": POSITIVE, "weight_decay": NON_NEGATIVE,
        "grad_clip": NON_NEGATIVE, "validation_fraction": Limit(0, 0.5, open_high=True),
        "max_augmented_copies": NON_NEGATIVE, "token_dropout": BELOW_ONE, "threads": AT_LEAST_ONE}


TEACHER_TABLES = ("contextual", "input")


@dataclass
class VocabularyConfig:
    min_count: int = 1
    init_from_teacher: bool = True  # PCA of a teacher token table (below)
    # input: the teacher's input embeddings; contextual: each token's mean last-layer state in the
    # teacher (distill/token_table.py). Contextual learns much faster (validation 0.82 vs 0.73 after
    # one epoch on rotten_tomatoes); it is opt-in, and simulations/distill_selection.py compares the
    # two on validation texts for a given config.
    teacher_table: str = "input"

    LIMITS: ClassVar[dict[str, Limit]] = {"min_count": AT_LEAST_ONE}


@dataclass
class CompressionConfig:
    """``method: post_hoc`` (compression/post_hoc.py) prunes and factorizes after training and
    fine-tunes: the keys low_rank_ratio, prune_sparsity, finetune_epochs. ``method: atmc``
    (compression/atmc.py) trains under the constraints with ADMM: the keys under ``atmc``.
    ``int8`` writes an extra per-row int8 copy (student_int8/) with either method."""

    method: str = "post_hoc"
    low_rank_ratio: float = 0.0  # rank = ratio * min(in, out) for every linear map it shrinks
    prune_sparsity: float = 0.0  # global magnitude pruning of weight matrices
    finetune_epochs: int = 1  # with all objectives, after low-rank / pruning
    int8: bool = True
    atmc: AtmcSettings = field(default_factory=AtmcSettings)

    # finetune_epochs 0: no fine-tuning after low-rank / pruning
    LIMITS: ClassVar[dict[str, Limit]] = {"low_rank_ratio": BELOW_ONE, "prune_sparsity": BELOW_ONE,
                                          "finetune_epochs": NON_NEGATIVE}
    POST_HOC_KEYS: ClassVar[tuple[str, ...]] = ("low_rank_ratio", "prune_sparsity", "finetune_epochs")

    def validate(self, where: str) -> None:
        """The method is known and only its own keys are set; errors name ``<where>.<key>``."""
        key = lambda name: dotted(where, name)  # noqa: E731
        if self.method not in COMPRESSION_METHODS:
            raise ConfigError(f"config key {key('method')} must be one of {', '.join(COMPRESSION_METHODS.names())}, "
                              f"got {self.method!r}")
        check_limits(self, where)
        check_limits(self.atmc, key("atmc"))
        defaults = CompressionConfig()
        if self.method == "atmc":
            for name in self.POST_HOC_KEYS:
                if getattr(self, name) != getattr(defaults, name):
                    raise ConfigError(f"config key {key(name)} belongs to {key('method')}: post_hoc; with atmc set "
                                      f"{key('atmc')}.sparsity / rank_ratio / bits / admm_epochs / qat_epochs instead")
            if self.atmc.rho_final < self.atmc.rho:
                raise ConfigError(f"config key {key('atmc.rho_final')} must be >= {key('atmc.rho')}={self.atmc.rho:g} "
                                  f"(rho grows), got {self.atmc.rho_final:g}")
        elif self.atmc != defaults.atmc:
            raise ConfigError(f"config key {key('atmc')} is read by {key('method')}: atmc only; "
                              f"the method here is {self.method!r}")


@dataclass
class MeasureConfig:
    """How the finished student is measured, on the validation rows (the YAML key is ``eval``)."""

    max_validation_examples: int | None = None
    latency_examples: int = 200

    LIMITS: ClassVar[dict[str, Limit]] = {"max_validation_examples": AT_LEAST_ONE, "latency_examples": AT_LEAST_ONE}
    RENAMED_KEYS: ClassVar[dict[str, str]] = {
        "max_test_examples": "max_validation_examples (a distill run measures validation texts; test is for the "
                             "final evaluation, `fedrobust evaluate`)"}


@dataclass(kw_only=True)
class DistillSettings:
    """The student and how it is distilled: what a distill file and a run's ``distill:`` section share."""

    student: dict[str, Any]
    objectives: dict[str, dict[str, Any]] = field(default_factory=lambda: {"ce": {"weight": 1.0}})
    train: TrainConfig = field(default_factory=TrainConfig)
    vocabulary: VocabularyConfig = field(default_factory=VocabularyConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    eval: MeasureConfig = field(default_factory=MeasureConfig)

    def validate(self, where: str = "") -> None:
        """Names and values of the student and objectives, checked against their implementations;
        errors name ``<where>.<key>``."""
        key = lambda name: dotted(where, name)  # noqa: E731
        if self.student is None:
            raise ConfigError(f"missing config key {key('student')}")
        student = dict(self.student)
        if "name" not in student:
            raise ConfigError(f"missing config key {key('student.name')}; one of: " + ", ".join(STUDENTS.names()))
        name = student.pop("name")
        check_parameters(STUDENTS.get(name), student, key("student"), skip=("num_labels", "vocab_size"),
                         limits=STUDENT_LIMITS)
        if student.get("embedding") is not None:
            check_embedding(student["embedding"], key("student.embedding"))
        if not self.objectives:
            raise ConfigError(f"config key {key('objectives')} is empty; give at least one, e.g. ce: {{weight: 1.0}}")
        epochs = self.train.epochs
        for obj_name, params in self.objectives.items():
            where_obj = key(f"objectives.{obj_name}")
            params = dict(params or {})
            check_limit(check_type(params.pop("weight", 1.0), float, f"{where_obj}.weight"), NON_NEGATIVE,
                        f"config key {where_obj}.weight")
            start_epoch = check_type(params.pop("start_epoch", 1), int, f"{where_obj}.start_epoch")
            if not 1 <= start_epoch <= epochs:
                raise ConfigError(f"config key {where_obj}.start_epoch must be in [1, {key('train.epochs')}={epochs}],"
                                  f" got {start_epoch}")
            check_parameters(OBJECTIVES.get(obj_name), params, where_obj, skip=("context",), limits=OBJECTIVE_LIMITS)
            if isinstance(params.get("attack"), str):
                check_attack_runs(params["attack"], f"{where_obj}.attack")
        if self.vocabulary.teacher_table not in TEACHER_TABLES:
            raise ConfigError(f"config key {key('vocabulary.teacher_table')} must be one of {', '.join(TEACHER_TABLES)}, "
                              f"got {self.vocabulary.teacher_table!r}")
        for section in ("train", "vocabulary", "compression", "eval"):  # again, for a config built in code
            check_limits(getattr(self, section), key(section))
        self.compression.validate(key("compression"))


def check_embedding(spec: Any, where: str) -> None:
    """``student.embedding``: a known kind, its own keys, whole-number sizes >= 1 (seed >= 0)."""
    if not isinstance(spec, dict):
        raise ConfigError(f"config key {where} must be a mapping such as {{kind: factorized, dim: 64, rank: 32}}, "
                          f"got {spec!r}")
    kind = spec.get("kind", "pruned")
    if kind not in EMBEDDING_KEYS:
        raise ConfigError(f"config key {where}.kind must be one of {', '.join(sorted(EMBEDDING_KEYS))}, got {kind!r}")
    unknown = sorted(set(spec) - EMBEDDING_KEYS[kind])
    if unknown:
        raise ConfigError(f"unknown config key {where}.{unknown[0]} ({kind} embedding); allowed here: "
                          f"{', '.join(sorted(EMBEDDING_KEYS[kind]))}")
    for name, value in spec.items():
        if name in EMBEDDING_SWITCHES:
            continue
        check_limit(check_type(value, int, f"{where}.{name}"), NON_NEGATIVE if name == "seed" else AT_LEAST_ONE,
                    f"config key {where}.{name}")
    if "train_table" in spec:
        check_type(spec["train_table"], bool, f"{where}.train_table")


@dataclass(kw_only=True)
class DistillConfig(DistillSettings):
    """`fedrobust distill`'s config file: the settings plus the prepared data and teacher folders."""

    data: str
    teacher: str
    seed: int = 0

    LIMITS: ClassVar[dict[str, Limit]] = {"seed": NON_NEGATIVE}

    def to_dict(self) -> dict[str, Any]:
        """The config as a mapping. A post_hoc compression leaves out ``method`` and ``atmc`` (their
        defaults), so configs written before ATMC keep their stage fingerprints."""
        mapping = dataclasses.asdict(self)
        if self.compression.method == "post_hoc" and self.compression.atmc == AtmcSettings():
            for name in ("method", "atmc"):
                mapping["compression"].pop(name)
        return mapping


def config_from_mapping(mapping: dict[str, Any], where: str = "") -> DistillConfig:
    return validated(DistillConfig, mapping, where)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> DistillConfig:
    """A distill YAML (``extends:`` resolved) with dotted ``--set`` overrides, validated."""
    return load_file(DistillConfig, path, overrides)
