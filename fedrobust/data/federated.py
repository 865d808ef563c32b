"""Reading a prepared federated directory: the API every later stage uses.

    fd = FederatedDataset.load("data/rt")
    fd.client(0).train_texts, fd.public().test_labels, fd.client_ids, fd.label_names
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fedrobust.data.leaf import LeafUser, read_leaf_split
from fedrobust.errors import DataError

FORMAT = "fedrobust-leaf/1"
META_FILE = "meta.json"
STATS_FILE = "stats.json"
PUBLIC_DIR = "public"


@dataclass(frozen=True)
class ClientData:
    client_id: str
    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]

    @property
    def n_train(self) -> int:
        return len(self.train_labels)

    @property
    def n_test(self) -> int:
        return len(self.test_labels)


def _merge(users: dict[str, LeafUser]) -> tuple[list[str], list[int]]:
    texts = [t for record in users.values() for t in record.texts]
    labels = [int(y) for record in users.values() for y in record.labels]
    return texts, labels


class FederatedDataset:
    """Device clients (train/ + test/) and the public server split of one prepared directory."""

    def __init__(self, root: Path, meta: dict, train: dict[str, LeafUser], test: dict[str, LeafUser],
                 public_train: dict[str, LeafUser], public_test: dict[str, LeafUser]) -> None:
        self.root = root
        self.meta = meta
        self._train, self._test = train, test
        self._public_train, self._public_test = public_train, public_test
        self.client_ids: list[str] = list(train) + [c for c in test if c not in train]
        self._index = {c: i for i, c in enumerate(self.client_ids)}

    @classmethod
    def load(cls, root: str | Path) -> "FederatedDataset":
        root = Path(root)
        meta_path = root / META_FILE
        if not meta_path.is_file():
            raise DataError(f"{root}: not a prepared federated directory (no {META_FILE}); run `fedrobust data prepare --out {root}`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise DataError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        public = root / PUBLIC_DIR
        has_public = public.is_dir()
        return cls(
            root, meta, read_leaf_split(root / "train"), read_leaf_split(root / "test"),
            read_leaf_split(public / "train") if has_public else {},
            read_leaf_split(public / "test") if has_public else {},
        )

    @property
    def label_names(self) -> list[str]:
        return list(self.meta["label_names"])

    @property
    def num_labels(self) -> int:
        return int(self.meta["num_labels"])

    def __len__(self) -> int:
        return len(self.client_ids)

    def client(self, key: int | str) -> ClientData:
        """A device client by position (Flower's partition-id) or by id."""
        if isinstance(key, int):
            if not 0 <= key < len(self.client_ids):
                raise DataError(f"{self.root}: client index {key} out of range 0..{len(self.client_ids) - 1}")
            client_id = self.client_ids[key]
        elif key in self._index:
            client_id = key
        else:
            raise DataError(f"{self.root}: no client {key!r}")
        empty = LeafUser()
        train, test = self._train.get(client_id, empty), self._test.get(client_id, empty)
        return ClientData(client_id, train.texts, [int(y) for y in train.labels], test.texts, [int(y) for y in test.labels])

    def all_texts(self) -> set[str]:
        """Every text of the dataset: devices and public split, train and test."""
        splits = (self._train, self._test, self._public_train, self._public_test)
        return {text for users in splits for record in users.values() for text in record.texts}

    def public(self) -> ClientData:
        """The server-side split used to train the teacher and distil the student."""
        if not self._public_train:
            raise DataError(f"{self.root}: has no public split; prepare it with --public-fraction > 0")
        train_texts, train_labels = _merge(self._public_train)
        test_texts, test_labels = _merge(self._public_test)
        return ClientData("public", train_texts, train_labels, test_texts, test_labels)
