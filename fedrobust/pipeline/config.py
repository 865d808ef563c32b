"""The `fedrobust run` config: one YAML file for the whole study, validated before any stage runs.

Each section feeds one stage and mirrors that stage's own command, so every flag of
`fedrobust data prepare`, `fedrobust teacher`, `fedrobust distill` and `fedrobust simulate` has a key
here (``--min-samples`` is ``data.min_samples``, ``--augment-copies`` is ``teacher.augment_copies``).
A section's ``path`` key points at an artifact made earlier (your own data, teacher or student) and
replaces that stage.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fedrobust.config_schema import build_with_overrides, dataclass_from_mapping, read_yaml_mapping
from fedrobust.errors import ConfigError

PLACEHOLDER = "<from an earlier stage>"
EVALUATED_MODELS = ("student", "teacher")
DEFAULT_ALGORITHMS = ("robust_student",)


@dataclass
class DataSection:
    path: str | None = None  # a folder written by `fedrobust data prepare` (or a LEAF export of it)
    source: str = "rotten_tomatoes"
    partition: str = "natural"
    num_clients: int | None = None
    alpha: float = 0.5
    classes_per_client: int = 2
    min_samples: int = 10
    user_fraction: float = 1.0
    train_fraction: float = 0.8
    public_fraction: float = 0.15
    keep_duplicates: bool = False
    text_column: str = "text"
    label_column: str = "label"
    owner_column: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"


@dataclass
class TeacherSection:
    path: str | None = None  # a folder written by `fedrobust teacher`
    model: str = "offline:all-MiniLM-L6-v2"  # hub name or local folder
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 48
    max_train_examples: int | None = None
    mask_top_k: int = 2
    augment_copies: int = 0
    transfer: list[str] = field(default_factory=list)  # unlabelled corpora the teacher labels for distillation
    transfer_max_texts: int | None = None
    latency_examples: int = 100


@dataclass
class EvaluateSection:
    attack: str = "fast_deepwordbug"
    models: list[str] = field(default_factory=lambda: ["student"])  # student, teacher
    max_examples: int | None = 200  # seeded sample of the public test split (None: all)
    max_queries: int | None = None
    explanation_agreement: bool = True  # student vs teacher token attributions on the same texts
    top_k: int = 5


@dataclass
class ReportSection:
    title: str | None = None


@dataclass
class RunConfig:
    name: str = "run"
    seed: int = 0
    out: str | None = None  # default runs/<name>
    # a folder shared by several runs so that identical stages are computed once (default RUN_DIR/stages)
    stage_cache: str | None = None
    data: DataSection = field(default_factory=DataSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    # keys of a `fedrobust distill` config (student, objectives, train, vocabulary, compression, eval)
    # and `path`: a student folder written by `fedrobust distill` (its student/ subfolder) instead
    distill: dict[str, Any] = field(default_factory=dict)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    # keys of a `fedrobust simulate` config except data/model/algorithm/seed, and `algorithms`: a list
    federated: dict[str, Any] = field(default_factory=lambda: {"algorithms": list(DEFAULT_ALGORITHMS)})
    report: ReportSection = field(default_factory=ReportSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def algorithms(self) -> list[str]:
        return list(self.federated.get("algorithms") or [])

    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.name

    def distill_mapping(self, data_dir: str, teacher_dir: str) -> dict[str, Any]:
        mapping = {k: v for k, v in self.distill.items() if k != "path"}
        return {**mapping, "data": data_dir, "teacher": teacher_dir, "seed": self.seed}

    def simulation_mapping(self, algorithm: str, data_dir: str, model_dir: str) -> dict[str, Any]:
        mapping = {k: v for k, v in self.federated.items() if k != "algorithms"}
        return {**mapping, "data": data_dir, "model": model_dir, "algorithm": algorithm, "seed": self.seed}


def _in_section(section: str, check: Callable[[], Any]) -> Any:
    """Run another command's validator and name its keys as keys of this file's section."""
    try:
        return check()
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("config key ", f"config key {section}.").replace(
            "config keys ", f"config keys {section}.")) from None


def _check_sections(config: RunConfig) -> None:
    from fedrobust.distill.config import config_from_mapping as distill_config
    from fedrobust.federated.config import config_from_mapping as simulation_config
    from fedrobust.pipeline.stages.teacher import teacher_options

    if config.data.path is None:
        try:
            prepare_options(config).validate()
        except ConfigError as exc:  # its messages name `fedrobust data prepare` flags
            raise ConfigError(re.sub(r"--([a-z-]+)", lambda m: "data." + m.group(1).replace("-", "_"), str(exc))) from None
    if not config.name or "/" in config.name:
        raise ConfigError(f"config key name must be a non-empty folder name, got {config.name!r}")
    teacher = config.teacher
    for key in ("epochs", "batch_size", "max_length", "latency_examples"):
        if getattr(teacher, key) < 1:
            raise ConfigError(f"config key teacher.{key} must be >= 1, got {getattr(teacher, key)}")
    if teacher.lr <= 0 or teacher.augment_copies < 0 or teacher.mask_top_k < 1:
        raise ConfigError("config keys teacher.lr must be > 0, teacher.augment_copies >= 0, teacher.mask_top_k >= 1")
    if not isinstance(teacher.transfer, list) or not all(isinstance(t, str) for t in teacher.transfer):
        raise ConfigError(f"config key teacher.transfer must be a list of corpus names, got {teacher.transfer!r}")
    teacher_options(config).check_transfer(key_prefix="teacher.")
    if config.distill.get("path") is None:
        _in_section("distill", lambda: distill_config(config.distill_mapping(PLACEHOLDER, PLACEHOLDER)))
    _check_evaluate(config.evaluate)
    algorithms = config.federated.get("algorithms")
    if not isinstance(algorithms, list) or not all(isinstance(a, str) for a in algorithms):
        raise ConfigError(f"config key federated.algorithms must be a list of names, got {algorithms!r}")
    if len(set(algorithms)) != len(algorithms):
        raise ConfigError(f"config key federated.algorithms lists a name twice: {algorithms}")
    for algorithm in algorithms:
        _in_section("federated", lambda: simulation_config(config.simulation_mapping(algorithm, PLACEHOLDER, PLACEHOLDER)))


def _check_evaluate(section: EvaluateSection) -> None:
    from fedrobust.attacks import ATTACKS

    ATTACKS.get(section.attack)
    unknown = [m for m in section.models if m not in EVALUATED_MODELS]
    if unknown:
        raise ConfigError(f"config key evaluate.models: unknown model {unknown[0]!r}; choose from {', '.join(EVALUATED_MODELS)}")
    for key in ("max_examples", "max_queries", "top_k"):
        value = getattr(section, key)
        if value is not None and value < 1:
            raise ConfigError(f"config key evaluate.{key} must be >= 1, got {value}")


def prepare_options(config: RunConfig):
    """The data section as `fedrobust data prepare` options."""
    from fedrobust.data.prepare import PrepareOptions
    from fedrobust.data.sources import SourceOptions

    d = config.data
    return PrepareOptions(
        source=d.source, partition=d.partition, num_clients=d.num_clients, alpha=d.alpha,
        classes_per_client=d.classes_per_client, min_samples=d.min_samples, user_fraction=d.user_fraction,
        train_fraction=d.train_fraction, public_fraction=d.public_fraction, dedupe=not d.keep_duplicates,
        seed=config.seed,
        source_options=SourceOptions(text_column=d.text_column, label_column=d.label_column,
                                     owner_column=d.owner_column, hf_config=d.hf_config, hf_split=d.hf_split),
    )


def config_from_mapping(mapping: dict[str, Any]) -> RunConfig:
    config = dataclass_from_mapping(RunConfig, mapping)
    config.federated.setdefault("algorithms", list(DEFAULT_ALGORITHMS))
    _check_sections(config)
    return config


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def read_with_extends(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A file may start from another (``extends: paper.yaml``, relative to itself) and change some keys."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: `extends` loops back to itself")
    mapping = read_yaml_mapping(path)
    parent = mapping.pop("extends", None)
    if parent is None:
        return mapping
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: config key extends must be a file name, got {parent!r}")
    return deep_merge(read_with_extends(path.parent / parent, (*seen, path)), mapping)


DISTILL_RUN_KEYS = ("data", "teacher", "seed")  # a distill file's keys that the run sets itself


def resolve_distill_file(mapping: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """``distill: {extends: distill_full.yaml, ...}`` reads a `fedrobust distill` config file
    (relative to the run config) and lets the run's keys change parts of it."""
    distill = mapping.get("distill")
    if not isinstance(distill, dict) or "extends" not in distill:
        return mapping
    source = base_dir / str(distill["extends"])
    base = {k: v for k, v in read_yaml_mapping(source).items() if k not in DISTILL_RUN_KEYS}
    rest = {k: v for k, v in distill.items() if k != "extends"}
    return {**mapping, "distill": deep_merge(base, rest)}


def load_run_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a run YAML (and the files it extends), apply ``--set key=value`` overrides, validate every section."""
    mapping = resolve_distill_file(read_with_extends(Path(path)), Path(path).resolve().parent)
    return build_with_overrides(path, mapping, overrides, config_from_mapping)
