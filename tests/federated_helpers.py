"""A tiny federation for tests: a few synthetic clients and a tiny student built from a config."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from fedrobust.data import FederatedDataset
from fedrobust.data.prepare import DataConfig, prepare
from fedrobust.federated.config import config_from_mapping
from tests.data_helpers import synthetic_rows, write_csv

TINY_STUDENT = {"hidden": 8, "embedding": {"kind": "hashed", "dim": 8, "num_buckets": 512}}


@lru_cache(maxsize=1)
def tokenizer():
    from fedrobust.models.tokenizer import WordPieceTokenizer

    return WordPieceTokenizer.from_pretrained(max_length=24)


def tiny_student(seed: int = 0, num_labels: int = 3):
    import fedrobust.models.students  # noqa: F401
    from fedrobust.models.registry import build_student

    torch.manual_seed(seed)
    return build_student("bigru_attention", num_labels=num_labels, vocab_size=tokenizer().vocab_size, **TINY_STUDENT)


def make_federation(root: Path, num_owners: int = 6) -> tuple[Path, Path]:
    """(data dir, model dir) with ``num_owners`` natural clients and a saved tiny student."""
    from fedrobust.models.io import save_model

    source = write_csv(root / "rows.csv", synthetic_rows(n=40 * num_owners, num_owners=num_owners))
    data_dir = root / "data"
    prepare(DataConfig(source=f"csv:{source}", public_fraction=0.1, min_samples=5,
                       text_column="review", label_column="stars", owner_column="who"), data_dir)
    model_dir = root / "student"
    save_model(tiny_student(), tokenizer(), model_dir)
    return data_dir, model_dir


def sim_config(data_dir: Path, model_dir: Path, **overrides):
    mapping = {
        "data": str(data_dir), "model": str(model_dir), "algorithm": "fedavg_ft", "rounds": 2,
        "fraction_train": 0.5, "seed": 0,
        "local": {"epochs": 1, "batch_size": 8},
        "personalize": {"epochs": 2, "batch_size": 8},
        "evaluate": {"examples": 2},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(mapping.get(key, {}), dict):
            mapping.setdefault(key, {}).update(value)
        else:
            mapping[key] = value
    return config_from_mapping(mapping)


def client_data(data_dir: Path, index: int = 0):
    return FederatedDataset.load(data_dir).client(index)
