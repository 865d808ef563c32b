"""`leaf:<dir>`: an existing LEAF directory (train/, test/, and fedrobust's optional public/).

Rows keep their user (owner), their split and whether they are public, so the natural
partition reproduces the directory exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from fedrobust.data.leaf import read_leaf_split
from fedrobust.data.sources.base import PUBLIC, SPLIT, SourceOptions, make_dataset
from fedrobust.errors import DataError

META_FILE = "meta.json"


def load_leaf_directory(argument: str, options: SourceOptions) -> datasets.Dataset:
    root = Path(argument).expanduser()
    if not root.is_dir():
        raise DataError(f"leaf:{argument}: no such directory")
    parts = [("train", False, root / "train"), ("test", False, root / "test")]
    if (root / "public").is_dir():
        parts += [("train", True, root / "public" / "train"), ("test", True, root / "public" / "test")]
    texts, labels, owners, splits, public = [], [], [], [], []
    for split, is_public, directory in parts:
        for user, record in read_leaf_split(directory).items():
            texts += record.texts
            labels += record.labels
            owners += [user] * len(record.texts)
            splits += [split] * len(record.texts)
            public += [is_public] * len(record.texts)
    label_names = None
    if (root / META_FILE).is_file():
        label_names = json.loads((root / META_FILE).read_text()).get("label_names")
    return make_dataset(
        texts, labels, label_names=label_names, owners=owners,
        extra={SPLIT: splits, PUBLIC: public}, origin=str(root),
    )
