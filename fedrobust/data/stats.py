"""LEAF-style statistics of a federated directory, as a dict, a console table and a PNG."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from fedrobust.data.federated import META_FILE, PUBLIC_DIR
from fedrobust.data.leaf import LeafUser, read_leaf_split


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


def compute_stats(splits: dict[str, dict[str, LeafUser]], label_names: list[str]) -> dict:
    train, test = splits["train"], splits["test"]
    clients = list(dict.fromkeys([*train, *test]))
    per_client = {c: len(train[c].labels if c in train else []) + len(test[c].labels if c in test else []) for c in clients}
    public = splits["public_train"]
    return {
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
    for key, value in stats.get("provenance", {}).items():
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
    splits = {
        "train": read_leaf_split(root / "train"),
        "test": read_leaf_split(root / "test"),
        "public_train": read_leaf_split(public / "train") if public.is_dir() else {},
        "public_test": read_leaf_split(public / "test") if public.is_dir() else {},
    }
    meta_path = root / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    raw_labels = sorted({y for split in splits.values() for r in split.values() for y in r.labels}, key=str)
    label_names = meta.get("label_names") or [str(y) for y in raw_labels]
    if not meta:  # plain LEAF: map whatever labels it uses onto 0..K-1
        index = {y: i for i, y in enumerate(raw_labels)}
        for split in splits.values():
            for record in split.values():
                record.labels = [index[y] for y in record.labels]
    stats = compute_stats(splits, label_names)
    if "provenance" in meta:
        stats["provenance"] = meta["provenance"]
    per_client: dict[str, list[int]] = {}
    for name in ("train", "test"):
        for client, record in splits[name].items():
            per_client.setdefault(client, []).extend(int(y) for y in record.labels)
    return stats, per_client
