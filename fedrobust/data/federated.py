"""Reading a prepared federated directory: the API every later stage uses.

    fd = FederatedDataset.load("data/rt")
    fd.client(0).train_texts, fd.client(0).validation_texts, fd.public().test_labels, fd.client_ids

Test texts and labels are read through ``ClientData.test_texts`` / ``test_labels``, which note the
read (fedrobust.data.reads_of_test_texts): selection reads validation, only the final evaluation reads test.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fedrobust.data.leaf import LabelRule, LeafUser, read_leaf_split
from fedrobust.data.meta import FORMAT, META_FILE, read_meta
from fedrobust.data.reads_of_test_texts import note_test_read
from fedrobust.data.validation import META_KEY as VALIDATION_KEY
from fedrobust.data.validation import carve
from fedrobust.errors import DataError

log = logging.getLogger(__name__)
__all__ = ["FORMAT", "META_FILE", "STATS_FILE", "PUBLIC_DIR", "PUBLIC_OWNER", "ClientData", "FederatedDataset",
           "scorable_devices"]
STATS_FILE = "stats.json"
PUBLIC_DIR = "public"
PUBLIC_OWNER = "public"  # the public split's name in ClientData.client_id and in test-read records


class ClientData:
    """One split owner's texts: train, validation (carved from train) and test (reads are recorded)."""

    __slots__ = ("client_id", "train_texts", "train_labels", "validation_texts", "validation_labels",
                 "_test_texts", "_test_labels")

    def __init__(self, client_id: str, train_texts: list[str], train_labels: list[int], test_texts: list[str],
                 test_labels: list[int], validation_texts: list[str] | None = None,
                 validation_labels: list[int] | None = None) -> None:
        self.client_id = client_id
        self.train_texts, self.train_labels = train_texts, train_labels
        self.validation_texts, self.validation_labels = validation_texts or [], validation_labels or []
        self._test_texts, self._test_labels = test_texts, test_labels

    @property
    def test_texts(self) -> list[str]:
        note_test_read(self.client_id)
        return self._test_texts

    @property
    def test_labels(self) -> list[int]:
        note_test_read(self.client_id)
        return self._test_labels

    def split(self, name: str) -> tuple[list[str], list[int]]:
        """(texts, labels) of ``train``, ``validation`` or ``test``."""
        if name == "test":
            return self.test_texts, self.test_labels
        if name in ("train", "validation"):
            return getattr(self, f"{name}_texts"), getattr(self, f"{name}_labels")
        raise DataError(f"unknown split {name!r}; one of train, validation, test")

    @property
    def n_train(self) -> int:
        return len(self.train_labels)

    @property
    def n_validation(self) -> int:
        return len(self.validation_labels)

    @property
    def n_test(self) -> int:  # a count, not a read of the test data
        return len(self._test_labels)

    def __repr__(self) -> str:
        return (f"ClientData({self.client_id!r}, {self.n_train} train, {self.n_validation} validation, "
                f"{self.n_test} test)")


def scorable_devices(train: dict[str, LeafUser], test: dict[str, LeafUser]) -> tuple[list[str], dict[str, list[str]]]:
    """The devices with train and test texts (in train order), and the others by what they lack:
    ``{"no_train": [...], "no_test": [...]}``."""
    has_train = {c for c, record in train.items() if record.labels}
    has_test = {c for c, record in test.items() if record.labels}
    everyone = list(dict.fromkeys([*train, *test]))
    kept = [c for c in everyone if c in has_train and c in has_test]
    return kept, {"no_train": [c for c in everyone if c not in has_train],
                  "no_test": [c for c in everyone if c in has_train and c not in has_test]}


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
        # devices without train or without test texts are never clients: nothing to personalize
        # on, or nothing to score (`data prepare` leaves them out; a hand-made directory may not)
        self.client_ids, self.dropped_clients = scorable_devices(train, test)
        if any(self.dropped_clients.values()):
            log.warning("%s: left out %d device(s) without train texts and %d without test texts", root,
                        len(self.dropped_clients["no_train"]), len(self.dropped_clients["no_test"]))
        self._index = {c: i for i, c in enumerate(self.client_ids)}

    @classmethod
    def load(cls, root: str | Path) -> "FederatedDataset":
        root = Path(root)
        meta = read_meta(root)
        labels = LabelRule(tuple(meta["label_names"]), indices_only=True, where=str(root / META_FILE))
        public = root / PUBLIC_DIR
        has_public = public.is_dir()
        return cls(
            root, meta, read_leaf_split(root / "train", labels), read_leaf_split(root / "test", labels),
            read_leaf_split(public / "train", labels) if has_public else {},
            read_leaf_split(public / "test", labels) if has_public else {},
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
        texts, labels, val_texts, val_labels = carve(client_id, train.texts, [int(y) for y in train.labels],
                                                     self.validation_fraction)
        return ClientData(client_id, texts, labels, test.texts, [int(y) for y in test.labels], val_texts, val_labels)

    @property
    def validation_fraction(self) -> float:
        """Share of each device's train texts held out for validation (0 for older directories)."""
        return float(self.meta.get(VALIDATION_KEY, 0.0))

    def all_texts(self) -> set[str]:
        """Every text of the dataset: devices and public split, train and test."""
        splits = (self._train, self._test, self._public_train, self._public_test)
        return {text for users in splits for record in users.values() for text in record.texts}

    def public(self) -> ClientData:
        """The server-side split used to train the teacher and distil the student.

        Its validation texts are not carved here: the teacher trains on the whole public train
        split, and the distillation holds out its own share of it (distill config
        ``train.validation_fraction``, fedrobust.distill.pipeline), which is the public validation."""
        if not self._public_train:
            raise DataError(f"{self.root}: has no public split; prepare it with --public-fraction > 0")
        train_texts, train_labels = _merge(self._public_train)
        test_texts, test_labels = _merge(self._public_test)
        return ClientData(PUBLIC_OWNER, train_texts, train_labels, test_texts, test_labels)
