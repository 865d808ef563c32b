"""`fedrobust distill`: from a validated config to a saved student and its metrics.json.

A distill run reads no test text: the best epoch is kept and the student is measured on the
validation rows (``train.validation_fraction`` of the public train split, never trained on, which
are the public split's validation texts), so metrics.json's accuracies are ``val_*``. Test numbers
come from the final evaluation (`fedrobust evaluate`, the run's evaluate stage).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import save as safetensors_bytes

from fedrobust.distill.compression import quantize_state_dict, sparsity
from fedrobust.distill.compression.methods import COMPRESSION_METHODS, Compressed
from fedrobust.distill.config import DistillConfig
from fedrobust.distill.losses import OBJECTIVES, ObjectiveContext
from fedrobust.distill.measure import latency_ms, size_bytes
from fedrobust.distill.teacher_artifacts import MODEL_DIR, cache_attribution, read_cache, read_metrics
from fedrobust.distill.teacher_training import TOKEN_TABLE_KEY
from fedrobust.distill.trainer import WeightedObjective, train_student
from fedrobust.distill.vocabulary import fit_vocabulary, kept_token_ids
from fedrobust.data import FederatedDataset
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation import accuracy, predict
from fedrobust.evaluation.attribution_base import DEFAULT_ATTRIBUTION
from fedrobust.models import STUDENTS, TextClassifier, WordPieceTokenizer, build_student, load_model, save_model
from fedrobust.models.io import FP32_WEIGHTS, INT8_WEIGHTS, WEIGHT_FILES
from fedrobust.seeding import reproducible_torch

log = logging.getLogger(__name__)

STUDENT_DIR, STUDENT_INT8_DIR = "student", "student_int8"


def _split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(fraction * n))
    return order[n_val:], order[:n_val]


def _training_rows(
    cache: dict[str, torch.Tensor],
    gold: list[int],
    train_orig: torch.Tensor,
    use_augmented: bool,
    max_copies: int | None = None,
    use_transfer: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels for every cache row (gold, or the teacher's argmax for the other rows) and the
    training rows: the training texts, the copies made from them (never from validation texts)
    and the transfer texts."""
    total, n = len(cache["logits"]), len(gold)
    if total < n:
        raise DataError(f"teacher cache has {total} rows for {n} public training texts; rerun `fedrobust teacher`")
    labels = torch.cat([torch.tensor(gold, dtype=torch.long), cache["logits"][n:].argmax(dim=1)])
    in_train = torch.zeros(n, dtype=torch.bool)
    in_train[train_orig] = True
    sources = cache["source_index"][n:] if total > n else torch.zeros(0, dtype=torch.long)
    is_copy = sources >= 0  # copies: ascending, contiguous per text; transfer texts: -1
    keep = torch.where(is_copy, in_train[sources.clamp(min=0)] & use_augmented, torch.tensor(use_transfer))
    if max_copies is not None:
        copies = sources[is_copy]
        copy_rank = torch.arange(len(copies)) - torch.searchsorted(copies, copies)
        keep[is_copy] &= copy_rank < max_copies
    return labels, torch.cat([train_orig, torch.arange(n, total)[keep]])


def _size_pruned_table(
    student: dict[str, Any], cache: dict[str, torch.Tensor], train_idx: torch.Tensor, tokenizer: Any, min_count: int
) -> dict[str, Any]:
    """A pruned table without ``num_embeddings`` gets exactly one row per kept token (+ [PAD], [UNK])."""
    accepts_embedding = "embedding" in inspect.signature(STUDENTS.get(student["name"])).parameters
    embedding = student.get("embedding", {"kind": "pruned", "dim": 64} if accepts_embedding else None)
    if not isinstance(embedding, dict) or embedding.get("kind", "pruned") != "pruned" or "num_embeddings" in embedding:
        return student
    kept = kept_token_ids(
        cache["input_ids"][train_idx], cache["attention_mask"][train_idx], tokenizer.special_token_ids(),
        tokenizer.pad_token_id, capacity=tokenizer.vocab_size, min_count=min_count,
    )
    return {**student, "embedding": {**embedding, "num_embeddings": len(kept) + 2}}


def teacher_token_table(teacher: Any, cache: dict[str, torch.Tensor], teacher_dir: Path, kind: str) -> torch.Tensor | None:
    if kind == "input":
        return teacher.input_embedding_weight()
    if TOKEN_TABLE_KEY not in cache:
        raise DataError(f"{teacher_dir} has no contextual token table (older caches lack it); rerun "
                        f"`fedrobust teacher --recache` there, or set vocabulary.teacher_table: input")
    return cache[TOKEN_TABLE_KEY]


@dataclass
class DistillInputs:
    """Everything a run reads before training: data, teacher cache, tokenizer, row split."""

    public: Any  # fedrobust.data.ClientData of the public split
    tokenizer: WordPieceTokenizer
    teacher_metrics: dict[str, Any]
    teacher_table: torch.Tensor | None  # the teacher's token embeddings, to initialise the student's
    cache: dict[str, torch.Tensor]
    labels: torch.Tensor  # one per cache row
    train_orig: torch.Tensor  # public training texts used for training
    train_idx: torch.Tensor  # cache rows used for training (texts + their augmented copies)
    val_idx: torch.Tensor  # public training texts held out to pick the best epoch: the public validation
    teacher_attribution: str = DEFAULT_ATTRIBUTION  # what the cached attributions are (alignment, GradMASK)

    def validation(self) -> tuple[list[str], list[int]]:
        """The public validation texts and their gold labels."""
        rows = self.val_idx.tolist()
        return [self.public.train_texts[i] for i in rows], [int(self.public.train_labels[i]) for i in rows]


def load_inputs(config: DistillConfig) -> DistillInputs:
    public = FederatedDataset.load(config.data).public()
    teacher_dir = Path(config.teacher)
    teacher_metrics = read_metrics(teacher_dir)
    cache = read_cache(teacher_dir, list(public.train_texts))
    teacher, tokenizer = load_model(teacher_dir / MODEL_DIR)
    table = teacher_token_table(teacher, cache, teacher_dir, config.vocabulary.teacher_table) \
        if config.vocabulary.init_from_teacher else None
    train_orig, val_idx = _split(len(public.train_texts), config.train.validation_fraction, config.seed)
    labels, train_idx = _training_rows(
        cache, list(public.train_labels), train_orig, config.train.use_augmented, config.train.max_augmented_copies,
        config.train.use_transfer,
    )
    return DistillInputs(
        public, tokenizer, teacher_metrics, None if table is None else table.detach(), cache, labels,
        train_orig, train_idx, val_idx, cache_attribution(teacher_dir),
    )


def build_fitted_student(config: DistillConfig, inputs: DistillInputs) -> tuple[TextClassifier, int]:
    """The configured student with its vocabulary pruned / initialised; returns (student, token rows)."""
    tok, cache, rows = inputs.tokenizer, inputs.cache, inputs.train_orig
    params = _size_pruned_table(dict(config.student), cache, rows, tok, config.vocabulary.min_count)
    name = params.pop("name")
    student = build_student(name, num_labels=int(cache["logits"].shape[1]), vocab_size=tok.vocab_size, **params)
    vocabulary_rows = fit_vocabulary(
        student, cache["input_ids"][rows], cache["attention_mask"][rows], tok.special_token_ids(),
        tok.pad_token_id, config.vocabulary.min_count, inputs.teacher_table,
    )
    return student, vocabulary_rows


def build_objectives(config: DistillConfig, inputs: DistillInputs, student: TextClassifier) -> list[WeightedObjective]:
    tok, rows = inputs.tokenizer, inputs.train_orig.tolist()
    context = ObjectiveContext(
        num_labels=student.num_labels,
        student_feature_dim=student.feature_dim,
        teacher_feature_dim=int(inputs.cache["features"].shape[1]),
        tokenizer=tok,
        special_token_ids=tok.special_token_ids(),
        train_texts=[inputs.public.train_texts[i] for i in rows],
        train_labels=[int(inputs.labels[i]) for i in rows],
        train_teacher_logits=inputs.cache["logits"][inputs.train_orig],
        seed=config.seed,
    )
    objectives = []
    for name, params in config.objectives.items():
        params = dict(params or {})
        weight = float(params.pop("weight", 1.0))
        start_epoch = int(params.pop("start_epoch", 1))
        objectives.append(WeightedObjective(name, weight, OBJECTIVES.get(name)(context, **params), start_epoch))
    return objectives


class _Phases:
    """The compression method's further phases (distill/compression/registry.py Phases)."""

    def __init__(self, student: TextClassifier, common: dict[str, Any], config: DistillConfig,
                 steps_per_epoch: int) -> None:
        self.student, self.common, self.config, self.steps_per_epoch = student, common, config, steps_per_epoch
        self.phases, self.epochs = 0, config.train.epochs

    def __call__(self, epochs: int, phase: str, *, masks: dict | None = None, hooks: Any = (),
                 keep_best_epoch: bool | None = None) -> list[dict[str, Any]]:
        self.phases += 1
        train = self.config.train
        keep_best = train.keep_best_epoch if keep_best_epoch is None else keep_best_epoch
        options = {**self.common, "keep_best_epoch": keep_best}
        rows = train_student(self.student, epochs=epochs, lr=train.lr / 2, seed=self.config.seed + self.phases,
                             masks=masks, phase=phase, epoch_offset=self.epochs, hooks=hooks, **options)
        self.epochs += epochs
        return rows


def train_and_compress(
    config: DistillConfig, inputs: DistillInputs, student: TextClassifier, objectives: list[WeightedObjective],
    dense: tuple[dict[str, torch.Tensor], list[dict[str, Any]]] | None = None,
) -> Compressed:
    """Train with every objective, then compress with ``compression.method`` (post_hoc: low-rank /
    prune and fine-tune; atmc: ADMM inside adversarial training, then quantization-aware training),
    whose further phases use the same objectives at half the learning rate. Returns the method's
    record, with the whole history. ``dense``: weights and history that replace the training
    (dense_phase_of)."""
    train, compression, tok = config.train, config.compression, inputs.tokenizer
    method = COMPRESSION_METHODS.get(compression.method)
    steps_per_epoch = math.ceil(len(inputs.train_idx) / train.batch_size)
    method.check(compression, steps_per_epoch, "compression")
    common = dict(
        objectives=objectives, cache=inputs.cache, labels=inputs.labels, train_idx=inputs.train_idx,
        val_idx=inputs.val_idx, batch_size=train.batch_size, weight_decay=train.weight_decay,
        grad_clip=train.grad_clip, token_dropout=train.token_dropout, unk_id=tok.unk_token_id,
        special_ids=tok.special_token_ids(), decay_lr=train.decay_lr, keep_best_epoch=train.keep_best_epoch,
    )
    if dense is None:
        history = train_student(student, epochs=train.epochs, lr=train.lr, seed=config.seed, **common)
    else:
        student.load_state_dict(dense[0])
        history = list(dense[1])
    compressed = method.compress(student, compression, _Phases(student, common, config, steps_per_epoch))
    compressed.history = history + compressed.history
    return compressed


def save_and_measure(
    config: DistillConfig, inputs: DistillInputs, student: TextClassifier, out_dir: Path,
    compressed: Compressed | None = None,
) -> dict[str, Any]:
    """Write the student (fp32, or packed for a method that says so) and the int8 copy, then measure
    what was written, reloaded from disk. ``bytes_fp32`` is always the fp32 file's size (written or not);
    a packed student also reports ``bytes_packed``, the size of its weights file on disk."""
    tok = inputs.tokenizer
    extra = {"distill_config": config.to_dict()}
    weights = compressed.weights if compressed is not None else "fp32"
    save_model(student, tok, out_dir / STUDENT_DIR, extra_config=extra, weights=weights,
               bits=compressed.bits if compressed is not None else None)
    state = {k: v.detach().contiguous() for k, v in student.state_dict().items()}
    measured: dict[str, Any] = {
        "name": config.student["name"],
        "params": student.num_parameters(),
        "sparsity": sparsity(student),
        "bytes_fp32": size_bytes(out_dir / STUDENT_DIR / FP32_WEIGHTS) if weights == "fp32"
        else len(safetensors_bytes(state)),
    }
    if weights != "fp32":
        measured[f"bytes_{weights}"] = size_bytes(out_dir / STUDENT_DIR / WEIGHT_FILES[weights])
    limit = config.eval.max_validation_examples
    texts, labels = (part[:limit] for part in inputs.validation())
    reloaded, _ = load_model(out_dir / STUDENT_DIR)
    measured["val_natural_acc"] = accuracy(reloaded, tok, texts, labels)
    # latency needs texts, not held-out ones: training texts fill in when validation is small
    timing = texts + list(inputs.public.train_texts)[:config.eval.latency_examples]
    measured["latency_ms"] = latency_ms(reloaded, tok, timing, config.eval.latency_examples)
    if config.compression.int8:
        save_model(student, tok, out_dir / STUDENT_INT8_DIR, extra_config=extra, weights="int8")
        int8 = load_model(out_dir / STUDENT_INT8_DIR)[0]
        measured["bytes_int8"] = size_bytes(out_dir / STUDENT_INT8_DIR / INT8_WEIGHTS)
        measured["val_natural_acc_int8"] = accuracy(int8, tok, texts, labels)
        measured["val_int8_agreement"] = float((predict(int8, tok, texts) == predict(reloaded, tok, texts)).float().mean())
    else:  # size of the int8 file it would write
        measured["bytes_int8"] = len(safetensors_bytes(quantize_state_dict(state)))
    measured["validation_examples"] = len(texts)
    return measured


def is_finished_run(out_dir: str | Path, config: DistillConfig) -> bool:
    """Whether ``out_dir`` holds a finished ``run_distill`` of exactly ``config`` (its metrics.json,
    and the config.yaml the run wrote equal to ``config``), so that its student can be reused."""
    out_dir = Path(out_dir)
    stored = out_dir / "config.yaml"
    return (out_dir / "metrics.json").is_file() and stored.is_file() \
        and yaml.safe_load(stored.read_text()) == config.to_dict()


def run_distill(config: DistillConfig, out_dir: str | Path, *, dense_phase: str | Path | None = None) -> dict[str, Any]:
    """Train, compress, save and measure a student with ``train.threads`` torch threads (the same
    config gives the same student bit for bit); writes and returns metrics.json.

    ``dense_phase``: a finished run whose config differs from this one only in ``compression`` and
    which compressed nothing (e.g. a study's dense row); its student stands in for the dense training,
    so several compression methods continue from one dense phase instead of each training it again.
    The compression phases seed themselves, but dropout draws from torch's global generator, so the
    result can differ in the last bits from training both phases in one run."""
    with reproducible_torch(config.train.threads):
        return _train_save_and_measure(config, out_dir, dense_phase)


def dense_phase_of(config: DistillConfig, run_dir: str | Path) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """The weights and training history of ``run_dir``'s student, refused (ConfigError) unless that
    run is finished, had this config but for ``compression`` and compressed nothing."""
    run_dir = Path(run_dir)
    stored = run_dir / "config.yaml"
    if not (run_dir / "metrics.json").is_file() or not stored.is_file():
        raise ConfigError(f"dense phase {run_dir}: not a finished distill run (config.yaml and metrics.json)")
    theirs, ours = yaml.safe_load(stored.read_text()), config.to_dict()
    differing = sorted(k for k in set(theirs) | set(ours) if k != "compression" and theirs.get(k) != ours.get(k))
    if differing:
        raise ConfigError(f"dense phase {run_dir}: its config differs in {', '.join(differing)}; "
                          "only the compression section may differ")
    compression = theirs.get("compression") or {}
    if compression.get("method", "post_hoc") != "post_hoc" or compression.get("low_rank_ratio", 0) \
            or compression.get("prune_sparsity", 0):
        raise ConfigError(f"dense phase {run_dir}: its student was compressed; give a run that only trained")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    model, _ = load_model(run_dir / STUDENT_DIR)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, metrics["history"]


def _train_save_and_measure(config: DistillConfig, out_dir: str | Path,
                            dense_phase: str | Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    out_dir = Path(out_dir)
    dense = dense_phase_of(config, dense_phase) if dense_phase is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    torch.manual_seed(config.seed)

    inputs = load_inputs(config)
    student, vocabulary_rows = build_fitted_student(config, inputs)
    objectives = build_objectives(config, inputs, student)
    compressed = train_and_compress(config, inputs, student, objectives, dense)
    measured = save_and_measure(config, inputs, student, out_dir, compressed)
    measured.update(vocabulary_rows=vocabulary_rows, low_rank=compressed.low_rank)
    if compressed.report:
        measured["compression"] = compressed.report

    teacher = inputs.teacher_metrics["teacher"]
    metrics = {
        "teacher": teacher,
        "student": measured,
        "param_ratio": measured["params"] / teacher["params"],
        "train_examples": len(inputs.train_orig),
        "train_rows_with_augmented": len(inputs.train_idx),
        "train_transfer_rows": int((inputs.cache["source_index"][inputs.train_idx] < 0).sum())
        if "source_index" in inputs.cache else 0,
        "validation_examples": len(inputs.val_idx),
        "objectives": {o.name: o.weight for o in objectives},
        "teacher_attribution": inputs.teacher_attribution,
        "history": compressed.history,
        "seconds": time.perf_counter() - started,
        "torch_threads": torch.get_num_threads(),
        **({"dense_phase": str(dense_phase)} if dense_phase is not None else {}),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info(
        "student %s: %d params (%.3f of the teacher), validation natural accuracy %.4f on %d texts",
        measured["name"], measured["params"], metrics["param_ratio"], measured["val_natural_acc"],
        measured["validation_examples"],
    )
    return metrics
