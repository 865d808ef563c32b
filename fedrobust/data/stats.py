"""LEAF-style statistics of a federated directory, as a dict, a console table and a PNG."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from fedrobust.data.federated import PUBLIC_DIR
from fedrobust.data.leaf import LabelRule, LeafUser, check_same_label_kind, read_leaf_split
from fedrobust.data.meta import META_FILE, read_leaf_meta


def _size_summary(sizes: list[int]) -> dict:
    array = np.asarray(sizes or [0])
    return {
        "mean": round(float(array.mean()), 2),
        "std": round(float(array.std()), 2),
        "min": int(array.min()),
        "max": int(array.max()),
    }


def _label_counts(users: dict[str, LeafUser], label_names: list[str]) -> dict[str, int]:
    counts = Counter(int(y) for record in users.values() for y in record.labels)
    return {name: counts.get(i, 0) for i, name in enumerate(label_names)}


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a[key] + b[key] for key in a}


# provenance counts of the devices `data prepare` left out -> their key under stats["dropped_clients"]
DROPPED_COUNTS = {"device_clients_dropped_without_train": "no_train",
                  "device_clients_dropped_without_test": "no_test",
                  "device_clients_dropped_by_min_test": "below_min_test"}


def dropped_clients(provenance: dict) -> dict[str, int]:
    """The devices left out at preparation, by reason: ``{"no_train": k, "no_test": m, "below_min_test": j}``."""
    return {reason: int(provenance[key]) for key, reason in DROPPED_COUNTS.items() if key in provenance}


def compute_stats(splits: dict[str, dict[str, LeafUser]], label_names: list[str], provenance: dict | None = None) -> dict:
    """Sizes and label counts of the devices and the public split; with ``provenance`` (meta.json's)
    also how the directory was made, and the devices left out (``dropped_clients``)."""
    train, test = splits["train"], splits["test"]
    clients = list(dict.fromkeys([*train, *test]))
    per_client = {c: len(train[c].labels if c in train else []) + len(test[c].labels if c in test else []) for c in clients}
    public = splits["public_train"]
    stats = {
        "devices": {
            "users": len(clients),
            "samples": sum(per_client.values()),
            "samples_per_user": _size_summary(list(per_client.values())),
            "train_samples_per_user": _size_summary([len(r.labels) for r in train.values()]),
            "test_samples_per_user": _size_summary([len(r.labels) for r in test.values()]),
            "clients_without_train": sum(1 for c in clients if c not in train),
            "clients_without_test": sum(1 for c in clients if c not in test),
            "label_distribution": _add(_label_counts(train, label_names), _label_counts(test, label_names)),
        },
        "public": {
            "train_samples": sum(len(r.labels) for r in public.values()),
            "test_samples": sum(len(r.labels) for r in splits["public_test"].values()),
            "label_distribution": _label_counts(public, label_names),
        },
        "label_names": label_names,
    }
    if provenance is not None:
        stats["dropped_clients"] = dropped_clients(provenance)
        stats["provenance"] = provenance
    return stats


def format_stats(stats: dict) -> str:
    devices, public = stats["devices"], stats["public"]
    size = devices["samples_per_user"]
    lines = [
        f"device clients      {devices['users']}",
        f"device samples      {devices['samples']}",
        f"samples per client  mean {size['mean']}  std {size['std']}  min {size['min']}  max {size['max']}",
        f"train per client    mean {devices['train_samples_per_user']['mean']}  min {devices['train_samples_per_user']['min']}",
        f"test per client     mean {devices['test_samples_per_user']['mean']}  min {devices['test_samples_per_user']['min']}",
        f"clients lacking train/test  {devices['clients_without_train']}/{devices['clients_without_test']}",
        f"public split        {public['train_samples']} train, {public['test_samples']} test",
    ]
    total = max(1, devices["samples"])
    labels = "  ".join(f"{name} {count} ({100 * count / total:.1f}%)" for name, count in devices["label_distribution"].items())
    lines.append(f"device labels       {labels}")
    dropped = stats.get("dropped_clients")
    if dropped:
        lines.append("devices left out    " + ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in dropped.items()))
    for key, value in stats.get("provenance", {}).items():
        if key not in DROPPED_COUNTS:
            lines.append(f"{key.replace('_', ' '):<44}{value}")
    return "\n".join(lines)


def plot_label_distribution(
    per_client_labels: dict[str, list[int]], label_names: list[str], path: Path, max_clients: int = 120
) -> Path:
    """Stacked label proportions per client (clients ordered by size), with a size histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(per_client_labels, key=lambda c: -len(per_client_labels[c]))
    shown = [order[i] for i in np.linspace(0, len(order) - 1, min(max_clients, len(order))).astype(int)]
    shares = np.zeros((len(shown), len(label_names)))
    for row, client in enumerate(shown):
        counts = np.bincount(per_client_labels[client], minlength=len(label_names))
        shares[row] = counts / max(1, counts.sum())
    fig, (bars, hist) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1]})
    bottom = np.zeros(len(shown))
    for k, name in enumerate(label_names):
        bars.bar(range(len(shown)), shares[:, k], bottom=bottom, width=1.0, label=name)
        bottom += shares[:, k]
    subtitle = f"{len(shown)} of {len(order)} clients, by size rank" if len(shown) < len(order) else f"{len(order)} clients, by size"
    bars.set(title=f"Label distribution per client ({subtitle})", xlabel="client (largest first)", ylabel="share of samples", xlim=(-0.5, len(shown) - 0.5), ylim=(0, 1))
    bars.legend(loc="upper right", fontsize=8, ncol=min(5, len(label_names)))
    sizes = [len(v) for v in per_client_labels.values()]
    hist.hist(sizes, bins=min(40, max(5, len(set(sizes)))), color="gray", log=True)
    hist.set(title="Samples per client", xlabel="samples", ylabel="clients (log)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def stats_of_directory(root: Path) -> tuple[dict, dict[str, list[int]]]:
    """Stats of any LEAF directory (fedrobust's or LEAF's own), and labels per device client."""
    root = Path(root)
    public = root / PUBLIC_DIR
    meta = read_leaf_meta(root)
    named = meta.get("label_names")
    # with label names (fedrobust's meta.json) the files hold their indices, else any one kind of label
    rule = LabelRule(tuple(named), indices_only=True, where=str(root / META_FILE)) if named else LabelRule()
    directories = {"train": root / "train", "test": root / "test",
                   "public_train": public / "train", "public_test": public / "test"}
    splits = {name: read_leaf_split(directory, rule) if name in ("train", "test") or public.is_dir() else {}
              for name, directory in directories.items()}
    check_same_label_kind([(directories[name], users) for name, users in splits.items()])
    raw_labels = sorted({y for split in splits.values() for r in split.values() for y in r.labels})
    label_names = named or [str(y) for y in raw_labels]
    if not named:  # plain LEAF: map whatever labels it uses onto 0..K-1
        index = {y: i for i, y in enumerate(raw_labels)}
        for split in splits.values():
            for record in split.values():
                record.labels = [index[y] for y in record.labels]
    provenance = meta.get("provenance")
    stats = compute_stats(splits, label_names, provenance if isinstance(provenance, dict) else None)
    per_client: dict[str, list[int]] = {}
    for name in ("train", "test"):
        for client, record in splits[name].items():
            per_client.setdefault(client, []).extend(int(y) for y in record.labels)
    return stats, per_client
