"""`fedrobust teacher`: fine-tune the teacher on the public split, measure it, cache its outputs."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from fedrobust.data import FederatedDataset
from fedrobust.distill.augmentation import augment_texts
from fedrobust.distill.measure import accuracy, latency_ms, size_bytes
from fedrobust.distill.teacher_artifacts import METRICS, MODEL_DIR, write_cache
from fedrobust.distill.teacher_training import finetune_teacher, teacher_outputs
from fedrobust.distill.transfer import check_transfer_spec, transfer_texts
from fedrobust.errors import ConfigError, DataError
from fedrobust.models import HFTeacher, WordPieceTokenizer, save_model
from fedrobust.models.int8 import quantize_state_dict
from fedrobust.models.offline import DEFAULT_TEACHER

log = logging.getLogger(__name__)


@dataclass
class TeacherOptions:
    model: str = DEFAULT_TEACHER
    epochs: int = 2
    batch_size: int = 32
    lr: float = 5e-5
    max_length: int = 48
    max_train_examples: int | None = None
    mask_top_k: int = 2
    augment_copies: int = 0  # teacher-labelled augmented copies of each public text (Tang et al. 2019)
    transfer: list[str] = field(default_factory=list)  # unlabelled corpora the teacher labels (distill/transfer.py)
    transfer_max_texts: int | None = None  # a seeded sample of at most this many texts per transfer corpus
    latency_examples: int = 100
    seed: int = 0

    def check_transfer(self, key_prefix: str | None = None) -> None:
        """Fail on a bad transfer setting before the teacher is fine-tuned; with ``key_prefix``
        (run configs: "teacher.") the error names the config key that holds it."""
        def named(key: str, message: str) -> ConfigError:
            return ConfigError(message if key_prefix is None else f"config key {key_prefix}{key}: {message}")

        for spec in self.transfer:
            try:
                check_transfer_spec(spec)
            except ConfigError as exc:
                raise named("transfer", str(exc)) from None
        if self.transfer_max_texts is not None and self.transfer_max_texts < 1:
            raise named("transfer_max_texts", f"transfer_max_texts must be >= 1, got {self.transfer_max_texts}")


def cache_teacher_outputs(
    teacher: HFTeacher, tokenizer: WordPieceTokenizer, out_dir: Path, data_dir: str | Path, dataset: FederatedDataset,
    options: TeacherOptions,
) -> None:
    """Teacher outputs on the public training texts, then on their augmented copies and on the
    transfer texts (if asked). ``source_index`` maps a copy to its text; transfer rows get -1."""
    texts = list(dataset.public().train_texts)
    extra, sources = augment_texts(texts, options.augment_copies, options.seed, tokenizer.hf.mask_token)
    transfer = transfer_texts(options.transfer, options.transfer_max_texts, options.seed, dataset.all_texts())
    log.info("caching teacher outputs on %d texts + %d augmented copies + %d transfer texts",
             len(texts), len(extra), len(transfer))
    cache = teacher_outputs(teacher, tokenizer, texts + extra + transfer, mask_top_k=options.mask_top_k)
    cache["source_index"] = torch.tensor(list(range(len(texts))) + sources + [-1] * len(transfer), dtype=torch.long)
    write_cache(out_dir, cache, texts, {"data": str(data_dir), "max_length": tokenizer.max_length,
                                         "mask_top_k": options.mask_top_k, "augment_copies": options.augment_copies,
                                         "transfer": options.transfer, "transfer_texts": len(transfer)})


def recache_teacher(data_dir: str | Path, out_dir: str | Path, options: TeacherOptions) -> None:
    """Recompute the cache (e.g. with augmentation) from an already fine-tuned teacher folder."""
    from fedrobust.models import load_model

    options.check_transfer()
    out_dir = Path(out_dir)
    teacher, tokenizer = load_model(out_dir / MODEL_DIR)
    cache_teacher_outputs(teacher, tokenizer, out_dir, data_dir, FederatedDataset.load(data_dir), options)


def run_teacher(data_dir: str | Path, out_dir: str | Path, options: TeacherOptions) -> dict[str, Any]:
    options.check_transfer()
    started = time.perf_counter()
    out_dir = Path(out_dir)
    dataset = FederatedDataset.load(data_dir)
    public = dataset.public()
    texts, labels = list(public.train_texts), list(public.train_labels)
    if not texts:
        raise DataError(f"{data_dir} has an empty public training split; prepare it with a larger --public-fraction")
    tokenizer = WordPieceTokenizer.from_pretrained(options.model, max_length=options.max_length)
    teacher = HFTeacher.from_pretrained(options.model, num_labels=dataset.num_labels, label_names=dataset.label_names)
    torch.manual_seed(options.seed)
    train_texts, train_labels = texts, labels
    if options.max_train_examples is not None:
        train_texts, train_labels = texts[: options.max_train_examples], labels[: options.max_train_examples]
    losses = finetune_teacher(
        teacher, tokenizer, train_texts, train_labels, options.epochs, options.batch_size, options.lr, options.seed
    )
    train_seconds = time.perf_counter() - started
    save_model(teacher, tokenizer, out_dir / MODEL_DIR, extra_config={"data": str(data_dir)})

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
        "options": asdict(options),
        "data": str(data_dir),
        "train_examples": len(train_texts),
        "test_examples": len(test_texts),
        "epoch_losses": losses,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - started,
    }
    (out_dir / METRICS).write_text(json.dumps(metrics, indent=2))
    return metrics
