"""PNG figures of a report: per-client accuracy, personalization gain, comparison of arms, rounds."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fedrobust.report.collect import Arm  # noqa: E402
from fedrobust.report.stats import finite, mean_ci  # noqa: E402

PHASE_COLOURS = {"global": "#9e9e9e", "personalized": "#1f77b4"}
JITTER = 0.015  # client accuracies sit on a few fractions; a little jitter shows how many share a point


def _jitter(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values + rng.uniform(-JITTER, JITTER, size=values.shape)


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows], dtype=float)


def client_accuracy(arms: list[Arm], path: Path) -> Path:
    """Natural vs adversarial accuracy of every client, before and after personalization."""
    columns = min(len(arms), 3)
    rows = math.ceil(len(arms) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(max(6.4, 4.6 * columns), 4.4 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, arm in zip(axes.flat, arms):
        means = {}
        for phase, colour in PHASE_COLOURS.items():
            phase_rows = [r for r in arm.phase(phase) if math.isfinite(float(r["adversarial_acc"]))]
            if not phase_rows:
                continue
            x, y = _column(phase_rows, "natural_acc"), _column(phase_rows, "adversarial_acc")
            ax.scatter(_jitter(x, rng), _jitter(y, rng), s=9, alpha=0.35, color=colour, label=f"{phase} ({len(x)} clients)")
            means[phase] = (x.mean(), y.mean())
            ax.scatter(*means[phase], s=140, marker="X", color=colour, edgecolor="black", zorder=3)
        if len(means) == 2 and means["global"] != means["personalized"]:
            ax.annotate("", xy=means["personalized"], xytext=means["global"],
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5}, zorder=4)
        ax.plot([0, 1], [0, 1], ls=":", color="#cccccc", lw=1)
        ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xlabel="natural accuracy", ylabel="accuracy under attack",
               title=arm.label)
        ax.legend(loc="upper left", fontsize=8)
    for ax in list(axes.flat)[len(arms):]:
        ax.axis("off")
    fig.suptitle("Per-client accuracy, global model vs personalized (X: means)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def personalization_gain(arms: list[Arm], path: Path) -> Path:
    """Gain of each client from personalization against its number of training examples."""
    arms = [a for a in arms if a.gains()]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), squeeze=False)
    rng = np.random.default_rng(0)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric, title in zip(axes.flat, ("natural_acc", "adversarial_acc"), ("natural accuracy", "accuracy under attack")):
        for arm, colour in zip(arms, colours * 3):
            gains = [g for g in arm.gains() if math.isfinite(g[metric])]
            if not gains:
                continue
            sizes, values = _column(gains, "n_train"), _column(gains, metric)
            ax.scatter(_jitter(sizes, rng) + rng.uniform(-0.3, 0.3, sizes.shape), _jitter(values, rng), s=8, alpha=0.3, color=colour)
            edges = np.unique(np.quantile(sizes, np.linspace(0, 1, 6)))
            centres, binned = [], []
            for lo, hi in zip(edges[:-1], edges[1:]):
                inside = (sizes >= lo) & ((sizes <= hi) if hi == edges[-1] else (sizes < hi))
                if inside.any():
                    centres.append(sizes[inside].mean())
                    binned.append(values[inside].mean())
            ax.plot(centres, binned, marker="o", color=colour, lw=2, label=f"{arm.label} (mean {values.mean():+.3f})")
        ax.axhline(0, color="black", lw=0.8)
        ax.set(xlabel="client's training examples", ylabel="personalized − global", title=f"gain in {title}")
        ax.legend(fontsize=8)
    fig.suptitle("Personalization gain per client against its data size (lines: means over size quintiles)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def arm_comparison(arms: list[Arm], path: Path) -> Path:
    """Mean client accuracy per arm, natural and under attack, global and personalized (95% CI)."""
    bars = [("natural_acc", "global"), ("natural_acc", "personalized"),
            ("adversarial_acc", "global"), ("adversarial_acc", "personalized")]
    colours = ["#c6dbef", "#2171b5", "#fcbba1", "#cb181d"]
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(arms) + 2), 4.4))
    x = np.arange(len(arms))
    for i, ((metric, phase), colour) in enumerate(zip(bars, colours)):
        stats = [mean_ci(r[metric] for r in arm.phase(phase)) for arm in arms]
        means = [s[0] for s in stats]
        errors = [0 if math.isnan(s[1]) else s[1] for s in stats]
        label = f"{'natural' if metric == 'natural_acc' else 'under attack'}, {phase}"
        ax.bar(x + (i - 1.5) * width, means, width, yerr=errors, capsize=2, color=colour, label=label)
    ax.set_xticks(x, [a.label for a in arms], rotation=20 if len(arms) > 3 else 0, ha="right" if len(arms) > 3 else "center")
    ax.set(ylim=(0, 1), ylabel="mean client accuracy", title="Algorithms and runs compared (error bars: 95% CI over clients)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rounds_curve(arms: list[Arm], path: Path) -> Path | None:
    arms = [a for a in arms if a.rounds]
    if not arms:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm in arms:
        values = finite(r["public_train_acc"] for r in arm.rounds)
        ax.plot([r["round"] for r in arm.rounds][: len(values)], values, marker="o", label=arm.label)
    ax.set(xlabel="round", ylabel="accuracy on a sample of the public train split", title="Global model over the rounds")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def budget_curves(curves: dict[str, dict[str, list[tuple[float, float]]]], path: Path) -> Path | None:
    """Macro accuracy against the attack's word budget (0: natural accuracy), one panel per attack."""
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(5.2 * len(curves), 4.2), squeeze=False)
    algorithms = list(dict.fromkeys(name.rsplit(", ", 1)[0] for lines in curves.values() for name in lines))
    colours = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(algorithms)}  # one colour per algorithm
    for ax, (attack, lines) in zip(axes.flat, curves.items()):
        for name, points in lines.items():
            algorithm, _, phase = name.rpartition(", ")
            xs, ys = zip(*sorted(points))
            ax.plot(xs, ys, marker="o", ls="--" if phase == "global" else "-", color=colours[algorithm], label=name)
        ax.set(xlabel="word budget (fraction of words modified)", ylabel="accuracy (macro over devices)",
               title=attack, ylim=(-0.02, 1.02))
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
