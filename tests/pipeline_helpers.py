"""A tiny study for `fedrobust run` tests: synthetic CSV data, a tiny BERT teacher saved like a hub
model, a tiny student, and no federation unless asked."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from tests.data_helpers import synthetic_rows, write_csv
from tests.federated_helpers import TINY_STUDENT

NUM_LABELS = 3


def tiny_hub_teacher(folder: Path) -> Path:
    """A 1-layer BERT and the offline MiniLM tokenizer in one folder, loadable by `teacher.model`."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from fedrobust.models.offline import resolve_pretrained

    if (folder / "config.json").is_file():
        return folder
    hf_tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained("offline:all-MiniLM-L6-v2"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=hf_tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=NUM_LABELS)
    BertForSequenceClassification(config).save_pretrained(folder)
    hf_tokenizer.save_pretrained(folder)
    return folder


def tiny_run_mapping(root: Path, algorithms: list[str] | None = None) -> dict[str, Any]:
    source = root / "rows.csv"
    if not source.is_file():
        write_csv(source, synthetic_rows(n=240, num_labels=NUM_LABELS, num_owners=6))
    return copy.deepcopy({
        "name": "tiny", "seed": 0, "out": str(root / "run"),
        "data": {"source": f"csv:{source}", "text_column": "review", "label_column": "stars", "owner_column": "who",
                 "min_samples": 5, "public_fraction": 0.1},
        "teacher": {"model": str(tiny_hub_teacher(root / "hub_teacher")), "epochs": 1, "max_length": 24,
                    "latency_examples": 2},
        "distill": {"student": {"name": "bigru_attention", **TINY_STUDENT},
                    "objectives": {"ce": {"weight": 1.0}, "kd": {"weight": 1.0, "temperature": 2.0}},
                    "vocabulary": {"init_from_teacher": False},
                    "train": {"epochs": 1, "batch_size": 16}, "compression": {"int8": False},
                    "eval": {"latency_examples": 2}},
        "evaluate": {"examples": 6, "explanation_agreement": True},
        "federated": {"algorithms": algorithms or [], "rounds": 1, "fraction_train": 0.5,
                      "local": {"epochs": 1, "batch_size": 8}, "personalize": {"epochs": 1, "batch_size": 8},
                      "evaluate": {"examples": 2}},
    })
