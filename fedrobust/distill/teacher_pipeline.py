"""`fedrobust teacher`: fine-tune the teacher on the public split, measure it, cache its outputs."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import save as safetensors_bytes

from fedrobust.config_schema import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Limit, at_least, check_limits, dotted, flag_help
from fedrobust.data import FederatedDataset
from fedrobust.distill.attribution import TEACHER_ATTRIBUTIONS
from fedrobust.distill.augmentation import augment_texts
from fedrobust.distill.measure import accuracy, latency_ms, size_bytes
from fedrobust.distill.teacher_artifacts import METRICS, MODEL_DIR, write_cache
from fedrobust.distill.teacher_training import finetune_teacher, teacher_outputs
from fedrobust.distill.transfer import check_transfer_spec, transfer_texts
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, IG_STEPS
from fedrobust.models import HFTeacher, WordPieceTokenizer, load_model, save_model
from fedrobust.models.int8 import quantize_state_dict
from fedrobust.models.offline import DEFAULT_TEACHER
from fedrobust.seeding import TRAINING_THREADS, reproducible_torch

log = logging.getLogger(__name__)


@dataclass
class TeacherConfig:
    """`fedrobust teacher`'s options and the run config's ``teacher:`` section (plus ``path``)."""

    model: str = field(default=DEFAULT_TEACHER, metadata=flag_help("hub name or local folder"))
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = field(default=48, metadata=flag_help("WordPiece tokens per text, students too"))
    max_train_examples: int | None = field(default=None, metadata=flag_help("fine-tune on the first N public texts"))
    mask_top_k: int = field(default=2, metadata=flag_help("tokens masked for the cached GradMASK targets"))
    # what the attribution-alignment objective and GradMASK read: gradient x input of BERT's word
    # embeddings mostly measures position (fedrobust.evaluation.attributions); integrated gradients
    # is faithful (simulations/explanation_check.py) at `attribution_steps` times the cost
    attribution: str = field(default=DEFAULT_ATTRIBUTION, metadata=flag_help(
        "the teacher's cached token attributions: grad_x_input or integrated_gradients"))
    attribution_steps: int = field(default=IG_STEPS, metadata=flag_help(
        "integrated gradients path points per text (attribution integrated_gradients)"))
    # teacher-labelled augmented copies of each public text (Tang et al. 2019)
    augment_copies: int = field(default=0, metadata=flag_help(
        "teacher-labelled augmented copies of each public text to cache for distillation"))
    transfer: list[str] = field(default_factory=list, metadata=flag_help(
        "unlabelled texts for the teacher to label for distillation (distill/transfer.py): rotten_tomatoes_plots, "
        "txt:PATH (one text per line) or a data source (airline_tweets, hf:NAME, csv:PATH)", metavar="CORPUS"))
    transfer_max_texts: int | None = field(default=None, metadata=flag_help(
        "a seeded sample of at most N texts from each transfer corpus", metavar="N"))
    latency_examples: int = field(default=100, metadata=flag_help("public test texts timed for the teacher's latency"))
    seed: int = 0
    threads: int = field(default=TRAINING_THREADS, metadata=flag_help(
        "torch CPU threads for fine-tuning and caching (the weights depend on it, not on the machine's load)"))

    LIMITS: ClassVar[dict[str, Limit]] = {
        **dict.fromkeys(("epochs", "batch_size", "max_length", "latency_examples", "mask_top_k", "max_train_examples",
                         "transfer_max_texts", "threads", "attribution_steps"), AT_LEAST_ONE),
        "lr": POSITIVE, "augment_copies": NON_NEGATIVE, "seed": NON_NEGATIVE}

    def validate(self, where: str = "") -> None:
        """Raise ConfigError naming ``<where>.<key>``, before the teacher is fine-tuned."""
        check_limits(self, where)  # again, for options built in code
        self.check_transfer(where)
        if self.attribution not in TEACHER_ATTRIBUTIONS:
            raise ConfigError(f"config key {dotted(where, 'attribution')}: unknown attribution {self.attribution!r}; "
                              f"one of {', '.join(TEACHER_ATTRIBUTIONS)}")

    def check_transfer(self, where: str = "") -> None:
        """Fail on a bad transfer setting, naming ``<where>.transfer`` (or ``transfer_max_texts``)."""
        for spec in self.transfer:
            try:
                check_transfer_spec(spec)
            except ConfigError as exc:
                raise ConfigError(f"config key {dotted(where, 'transfer')}: {exc}") from None
        at_least(self.transfer_max_texts, 1, dotted(where, "transfer_max_texts"), allow_none=True)

    def to_dict(self) -> dict[str, Any]:
        """The options that make the teacher (a run section's ``path`` is not one of them)."""
        return {f.name: getattr(self, f.name) for f in fields(TeacherConfig)}


def cache_teacher_outputs(
    teacher: HFTeacher, tokenizer: WordPieceTokenizer, out_dir: Path, data_dir: str | Path, dataset: FederatedDataset,
    options: TeacherConfig,
) -> None:
    """Teacher outputs on the public training texts, then on their augmented copies and on the
    transfer texts (if asked). ``source_index`` maps a copy to its text; transfer rows get -1."""
    texts = list(dataset.public().train_texts)
    extra, sources = augment_texts(texts, options.augment_copies, options.seed, tokenizer.hf.mask_token)
    transfer = transfer_texts(options.transfer, options.transfer_max_texts, options.seed, dataset.all_texts())
    log.info("caching teacher outputs on %d texts + %d augmented copies + %d transfer texts",
             len(texts), len(extra), len(transfer))
    cache = teacher_outputs(teacher, tokenizer, texts + extra + transfer, mask_top_k=options.mask_top_k,
                            attribution=options.attribution, attribution_steps=options.attribution_steps)
    cache["source_index"] = torch.tensor(list(range(len(texts))) + sources + [-1] * len(transfer), dtype=torch.long)
    write_cache(out_dir, cache, texts, {"data": str(data_dir), "max_length": tokenizer.max_length,
                                         "mask_top_k": options.mask_top_k, "augment_copies": options.augment_copies,
                                         "transfer": options.transfer, "transfer_texts": len(transfer),
                                         **attribution_meta(options)})


def attribution_meta(options: TeacherConfig) -> dict[str, Any]:
    """The cache's attribution method, with its steps for integrated gradients."""
    if options.attribution == "grad_x_input":
        return {"attribution": options.attribution}
    return {"attribution": options.attribution, "attribution_steps": options.attribution_steps}


def recache_teacher(data_dir: str | Path, out_dir: str | Path, options: TeacherConfig) -> None:
    """Recompute the cache (e.g. with augmentation) from an already fine-tuned teacher folder."""
    options.validate()
    out_dir = Path(out_dir)
    teacher, tokenizer = load_model(out_dir / MODEL_DIR)
    with reproducible_torch(options.threads):
        cache_teacher_outputs(teacher, tokenizer, out_dir, data_dir, FederatedDataset.load(data_dir), options)


def run_teacher(data_dir: str | Path, out_dir: str | Path, options: TeacherConfig) -> dict[str, Any]:
    """Fine-tune, measure and cache with ``options.threads`` torch threads: the same options give
    the same weights and cache bit for bit, whatever else runs on the machine."""
    options.validate()
    with reproducible_torch(options.threads):
        return _fine_tune_measure_and_cache(data_dir, out_dir, options)


def _fine_tune_measure_and_cache(data_dir: str | Path, out_dir: str | Path, options: TeacherConfig) -> dict[str, Any]:
    started = time.perf_counter()
    out_dir = Path(out_dir)
    dataset = FederatedDataset.load(data_dir)
    public = dataset.public()
    texts, labels = list(public.train_texts), list(public.train_labels)
    if not texts:
        raise DataError(f"{data_dir} has an empty public training split; prepare it with a larger public_fraction")
    tokenizer = WordPieceTokenizer.from_pretrained(options.model, max_length=options.max_length)
    torch.manual_seed(options.seed)  # before the new classifier head is drawn, not after
    teacher = HFTeacher.from_pretrained(options.model, num_labels=dataset.num_labels, label_names=dataset.label_names)
    train_texts, train_labels = texts, labels
    if options.max_train_examples is not None:
        train_texts, train_labels = texts[: options.max_train_examples], labels[: options.max_train_examples]
    losses = finetune_teacher(
        teacher, tokenizer, train_texts, train_labels, options.epochs, options.batch_size, options.lr, options.seed
    )
    train_seconds = time.perf_counter() - started
    save_model(teacher, tokenizer, out_dir / MODEL_DIR, extra_config={"data": str(data_dir)})

    # Fine-tuning makes no choice (fixed epochs, the last one kept), so this public test accuracy is a
    # final-evaluation figure: reported beside the student, never selected on.
    test_texts, test_labels = list(public.test_texts), list(public.test_labels)
    state = {k: v.detach().contiguous() for k, v in teacher.state_dict().items()}
    summary = {
        "params": teacher.num_parameters(),
        "natural_acc": accuracy(teacher, tokenizer, test_texts, test_labels),
        "latency_ms": latency_ms(teacher, tokenizer, test_texts, options.latency_examples),
        "bytes_fp32": size_bytes(out_dir / MODEL_DIR / "hf" / "model.safetensors"),
        "bytes_int8": len(safetensors_bytes(quantize_state_dict(state))),
    }
    log.info("teacher natural accuracy %.4f on %d public test texts", summary["natural_acc"], len(test_texts))

    cache_teacher_outputs(teacher, tokenizer, out_dir, data_dir, dataset, options)
    metrics = {
        "teacher": summary,
        "options": options.to_dict(),
        "data": str(data_dir),
        "train_examples": len(train_texts),
        "test_examples": len(test_texts),
        "epoch_losses": losses,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - started,
    }
    (out_dir / METRICS).write_text(json.dumps(metrics, indent=2))
    return metrics
