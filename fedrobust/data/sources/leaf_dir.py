"""`leaf:<dir>`: an existing LEAF directory (train/, test/, and fedrobust's optional public/).

Rows keep their user (owner), their split and whether they are public, so the natural
partition reproduces the directory exactly. Labels are class indices or class names (one kind in
the whole directory); a meta.json with ``label_names`` (fedrobust's, or one written by hand)
names the classes, and its indices must be in range.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from fedrobust.data.leaf import LabelRule, check_same_label_kind, read_leaf_split
from fedrobust.data.meta import META_FILE, read_leaf_meta
from fedrobust.data.sources.base import PUBLIC, SPLIT, SourceOptions, make_dataset
from fedrobust.errors import DataError


def load_leaf_directory(argument: str, options: SourceOptions) -> datasets.Dataset:
    root = Path(argument).expanduser()
    if not root.is_dir():
        raise DataError(f"leaf:{argument}: no such directory")
    label_names = read_leaf_meta(root).get("label_names")
    rule = LabelRule(tuple(label_names) if label_names else None, where=str(root / META_FILE))
    parts = [("train", False, root / "train"), ("test", False, root / "test")]
    if (root / "public").is_dir():
        parts += [("train", True, root / "public" / "train"), ("test", True, root / "public" / "test")]
    texts, labels, owners, splits, public = [], [], [], [], []
    read = [(directory, read_leaf_split(directory, rule)) for _, _, directory in parts]
    check_same_label_kind(read)
    for (split, is_public, _), (_, users) in zip(parts, read):
        for user, record in users.items():
            texts += record.texts
            labels += record.labels
            owners += [user] * len(record.texts)
            splits += [split] * len(record.texts)
            public += [is_public] * len(record.texts)
    return make_dataset(
        texts, labels, label_names=label_names, owners=owners,
        extra={SPLIT: splits, PUBLIC: public}, origin=str(root),
    )
