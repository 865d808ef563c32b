"""`fedrobust data prepare` and the run's data stage: a source -> a LEAF-style federated directory.

Steps: load the source, drop exact duplicate texts, partition rows into clients, move clients
too small to be devices into the public (server) split and add random whole clients to it until
``public_fraction`` of the samples are public, keep ``user_fraction`` of the remaining device
clients, split each client's samples into train/test (a device's validation texts are carved from its train
split when loaded, with ``validation_fraction`` from meta.json), leave out the devices without train
texts or without test texts (only pre-split sources have them) or with fewer than ``min_test`` test
texts (counted in meta.json's provenance and stats.json's ``dropped_clients``), and write everything
to a temporary directory that is renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np

from fedrobust import __version__
from fedrobust.data.federated import META_FILE, PUBLIC_DIR, STATS_FILE, FORMAT
from fedrobust.data.leaf import LeafUser, write_leaf_split
from fedrobust.data.partitioners import PARTITIONERS, PartitionOptions
from fedrobust.config_schema import at_least, dotted, flag_help
from fedrobust.data.sources import DEFAULT_SOURCE, SourceOptions, load_source
from fedrobust.data.sources.base import PUBLIC, SPLIT, TEXT
from fedrobust.data.stats import compute_stats
from fedrobust.data.validation import DEFAULT_VALIDATION_FRACTION
from fedrobust.data.validation import META_KEY as VALIDATION_KEY
from fedrobust.errors import ConfigError, DataError

PUBLIC_CLIENT = "__public__"


@dataclass
class DataConfig:
    """`fedrobust data prepare`'s options and the run config's ``data:`` section (plus ``path``)."""

    source: str = field(default=DEFAULT_SOURCE, metadata=flag_help(
        "rotten_tomatoes | airline_tweets | bbc_news | hf:NAME | csv:FILE | jsonl:FILE | parquet:FILE | leaf:DIR"))
    partition: str = field(default="natural", metadata=flag_help(f"one of: {', '.join(PARTITIONERS.names())}"))
    num_clients: int | None = field(default=None, metadata=flag_help("device clients (not for natural; default 100)"))
    alpha: float = field(default=0.5, metadata=flag_help("Dirichlet concentration / power-law shape"))
    classes_per_client: int = field(default=2, metadata=flag_help("pathological partition: classes per client"))
    min_samples: int = field(default=10, metadata=flag_help("smallest device client; smaller ones join the public split"))
    min_test: int = field(default=1, metadata=flag_help(
        "devices with fewer test texts after the split are left out (counted in the provenance)"))
    user_fraction: float = field(default=1.0, metadata=flag_help("fraction of device clients kept"))
    train_fraction: float = field(default=0.8, metadata=flag_help("per-client share of samples for training"))
    validation_fraction: float = field(default=DEFAULT_VALIDATION_FRACTION, metadata=flag_help(
        "share of each device's training texts held out for validation (carved when loaded; see "
        "fedrobust/data/validation.py); 0: none"))
    public_fraction: float = field(default=0.15, metadata=flag_help("share of samples held by the server (whole clients)"))
    keep_duplicates: bool = field(default=False, metadata=flag_help("keep exact duplicate texts"))
    text_column: str = "text"
    label_column: str = "label"
    owner_column: str | None = field(default=None, metadata=flag_help("column naming each sample's owner (natural partition)"))
    hf_config: str | None = field(default=None, metadata=flag_help("hub dataset configuration name"))
    hf_split: str = field(default="train", metadata=flag_help("hub dataset split"))
    seed: int = 0

    RENAMED_KEYS: ClassVar[dict[str, str]] = {"dedupe": "keep_duplicates (the opposite switch: dedupe false is keep_duplicates true)"}

    def validate(self, where: str = "") -> None:
        """Raise ConfigError naming ``<where>.<key>`` before any work."""
        key = lambda name: dotted(where, name)  # noqa: E731
        PARTITIONERS.get(self.partition)  # unknown names fail here, before any work
        if self.partition == "natural" and self.num_clients is not None:
            raise ConfigError(f"config key {key('num_clients')} does not apply to {key('partition')} natural "
                              f"(owners define the clients); use {key('user_fraction')}")
        at_least(self.num_clients, 1, key("num_clients"), allow_none=True)
        at_least(self.seed, 0, key("seed"))
        if self.alpha <= 0:
            raise ConfigError(f"config key {key('alpha')} must be > 0, got {self.alpha}")
        if self.min_test < 1:
            raise ConfigError(f"config key {key('min_test')} must be >= 1 (a device needs a test text), got {self.min_test}")
        if self.min_samples < 2:
            raise ConfigError(f"config key {key('min_samples')} must be >= 2 so every client has a train and a test "
                              f"example, got {self.min_samples}")
        if not 0 < self.user_fraction <= 1:
            raise ConfigError(f"config key {key('user_fraction')} must be in (0, 1], got {self.user_fraction}")
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"config key {key('train_fraction')} must be in (0, 1), got {self.train_fraction}")
        if not 0 <= self.validation_fraction < 0.5:
            raise ConfigError(f"config key {key('validation_fraction')} must be in [0, 0.5), got {self.validation_fraction}")
        if not 0 <= self.public_fraction < 1:
            raise ConfigError(f"config key {key('public_fraction')} must be in [0, 1), got {self.public_fraction}")

    def source_options(self) -> SourceOptions:
        return SourceOptions(text_column=self.text_column, label_column=self.label_column,
                             owner_column=self.owner_column, hf_config=self.hf_config, hf_split=self.hf_split)

    def partition_options(self) -> PartitionOptions:
        return PartitionOptions(
            num_clients=self.num_clients or 100,
            alpha=self.alpha,
            classes_per_client=self.classes_per_client,
            min_samples=self.min_samples,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        """The options that make the dataset (a run section's ``path`` is not one of them)."""
        return {f.name: getattr(self, f.name) for f in fields(DataConfig)}


def _train_test_split(rows: list[int], train_fraction: float, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    shuffled = [rows[i] for i in rng.permutation(len(rows))]
    n_test = min(len(rows) - 1, max(1, round(len(rows) * (1 - train_fraction))))
    return shuffled[n_test:], shuffled[:n_test]


def _dedupe(dataset: datasets.Dataset) -> datasets.Dataset:
    seen: set[str] = set()
    keep = []
    for row, text in enumerate(dataset[TEXT]):
        if text not in seen:
            seen.add(text)
            keep.append(row)
    return dataset.select(keep) if len(keep) < len(dataset) else dataset


def _choose_public(clients: dict[str, list[int]], options: DataConfig, total: int, rng: np.random.Generator) -> tuple[list[str], int]:
    """Small clients first (they cannot be devices), then random whole clients up to the fraction."""
    small = [c for c, rows in clients.items() if len(rows) < options.min_samples]
    public, count = list(small), sum(len(clients[c]) for c in small)
    large = [c for c in clients if len(clients[c]) >= options.min_samples]
    for index in rng.permutation(len(large)):
        if count >= options.public_fraction * total:
            break
        public.append(large[index])
        count += len(clients[large[index]])
    return public, len(small)


def _check_feasible(dataset: datasets.Dataset, options: DataConfig) -> None:
    if options.partition == "natural":
        return
    needed = options.partition_options().num_clients * options.min_samples
    if needed > len(dataset):
        raise ConfigError(
            f"num_clients {options.num_clients} x min_samples {options.min_samples} = {needed} samples "
            f"but the source has {len(dataset)}; use fewer clients"
        )


def build_federation(options: DataConfig) -> tuple[dict[str, dict[str, LeafUser]], dict]:
    """Compute the federated splits in memory: {"train", "test", "public_train", "public_test"}."""
    options.validate()
    dataset = load_source(options.source, options.source_options())
    n_source = len(dataset)
    if not options.keep_duplicates:
        dataset = _dedupe(dataset)
    inherits_public = PUBLIC in dataset.column_names and any(dataset[PUBLIC])
    if options.partition != "natural":
        # splits are only inherited from pre-split (LEAF) sources under the natural partition
        dataset = dataset.remove_columns([c for c in (SPLIT, PUBLIC) if c in dataset.column_names])
        inherits_public = False
    rng = np.random.default_rng(options.seed)
    held_out: list[int] = []
    if options.partition != "natural" and options.public_fraction > 0:
        # whole-sample public split first, so exactly num_clients device clients remain
        order = rng.permutation(len(dataset))
        n_public = round(options.public_fraction * len(dataset))
        held_out = sorted(order[:n_public].tolist())
        device_rows = sorted(order[n_public:].tolist())
    else:
        device_rows = list(range(len(dataset)))
    device_dataset = dataset.select(device_rows) if held_out else dataset
    _check_feasible(device_dataset, options)
    clients = {
        client: [device_rows[r] for r in rows]
        for client, rows in PARTITIONERS.get(options.partition)(device_dataset, options.partition_options()).items()
    }
    if held_out:
        clients[PUBLIC_CLIENT] = held_out
    texts, labels = dataset[TEXT], dataset["label"]
    presplit = dataset[SPLIT] if SPLIT in dataset.column_names else None

    if inherits_public:
        is_public = dataset[PUBLIC]
        public_ids = [c for c, rows in clients.items() if is_public[rows[0]]]
        n_small = 0
    elif held_out:
        public_ids = [PUBLIC_CLIENT] + [c for c, rows in clients.items() if len(rows) < options.min_samples]
        n_small = len(public_ids) - 1
    else:
        public_ids, n_small = _choose_public(clients, options, len(dataset), rng)
    public_set = set(public_ids)
    device_ids = [c for c in clients if c not in public_set]
    n_devices_before = len(device_ids)
    if options.user_fraction < 1:
        keep = max(1, round(options.user_fraction * len(device_ids)))
        chosen = set(rng.choice(len(device_ids), size=keep, replace=False).tolist())
        device_ids = [c for i, c in enumerate(device_ids) if i in chosen]

    splits: dict[str, dict[str, LeafUser]] = {"train": {}, "test": {}, "public_train": {}, "public_test": {}}

    def add(split: str, client: str, rows: list[int]) -> None:
        if rows:
            splits[split][client] = LeafUser([texts[r] for r in rows], [labels[r] for r in rows])

    dropped = {"no_train": 0, "no_test": 0, "below_min_test": 0}
    for client in device_ids:
        rows = clients[client]
        if presplit is not None:
            train = [r for r in rows if presplit[r] == "train"]
            test = [r for r in rows if presplit[r] == "test"]
        else:
            train, test = _train_test_split(rows, options.train_fraction, rng)
        # a device without test texts cannot be scored, one without train texts cannot personalize
        # (only pre-split sources have them); the split's random draws stay the same for the devices kept
        reason = ("no_test" if not test else "no_train" if not train
                  else "below_min_test" if len(test) < options.min_test else None)
        if reason:
            dropped[reason] += 1
            continue
        add("train", client, train)
        add("test", client, test)
    public_rows = sorted(r for c in public_ids for r in clients[c])
    for client in public_ids:
        rows = clients[client]
        if presplit is not None:
            add("public_train", client, [r for r in rows if presplit[r] == "train"])
            add("public_test", client, [r for r in rows if presplit[r] == "test"])
    if presplit is None and public_rows:
        train, test = _train_test_split(public_rows, options.train_fraction, rng)
        add("public_train", PUBLIC_CLIENT, sorted(train))  # sorted: source order, not shuffled
        add("public_test", PUBLIC_CLIENT, sorted(test))
    if not splits["train"]:
        raise DataError(f"{options.source}: no client has >= {options.min_samples} samples and >= {options.min_test} "
                        "test texts; lower min_samples or min_test")
    provenance = {
        "source_rows": n_source,
        "duplicates_dropped": n_source - len(dataset),
        "clients_partitioned": len(clients) - bool(held_out),
        "clients_below_min_samples_to_public": n_small,
        "device_clients_dropped_by_user_fraction": n_devices_before - len(device_ids),
        "device_clients_dropped_without_test": dropped["no_test"],
        "device_clients_dropped_without_train": dropped["no_train"],
        "device_clients_dropped_by_min_test": dropped["below_min_test"],  # some test texts, fewer than min_test
    }
    meta = {
        "format": FORMAT,
        "fedrobust_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "label_names": dataset.features["label"].names,
        "num_labels": dataset.features["label"].num_classes,
        "options": options.to_dict(),
        VALIDATION_KEY: options.validation_fraction,  # FederatedDataset carves each device's validation with it
        "provenance": provenance,
    }
    return splits, meta


def write_federation(splits: dict[str, dict[str, LeafUser]], meta: dict, out: Path, overwrite: bool = False) -> dict:
    """Write all files into a temporary sibling directory, then move it into place."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"{out} exists and is not empty; choose another --out or pass --overwrite")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as exc:
        raise DataError(f"{out}: cannot write the prepared directory here ({exc.strerror} on {exc.filename}); "
                        "choose another --out or make its folder writable") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private; the result should not be
    try:
        write_leaf_split(staging / "train", splits["train"])
        write_leaf_split(staging / "test", splits["test"])
        if splits["public_train"] or splits["public_test"]:
            write_leaf_split(staging / PUBLIC_DIR / "train", splits["public_train"])
            write_leaf_split(staging / PUBLIC_DIR / "test", splits["public_test"])
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        stats = compute_stats(splits, meta["label_names"], meta["provenance"])
        (staging / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")
        if out.exists():
            trash = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, trash)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return stats


def prepare(options: DataConfig, out: Path, overwrite: bool = False) -> dict:
    splits, meta = build_federation(options)
    return write_federation(splits, meta, out, overwrite=overwrite)
