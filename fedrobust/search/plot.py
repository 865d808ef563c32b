"""Plots of searched students: accuracy under attack against size and against natural accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

SERIES_STYLE = [("tab:blue", "o"), ("tab:orange", "s"), ("tab:green", "^"), ("tab:purple", "D")]


def plot_fronts(
    series: dict[str, tuple[Sequence[dict[str, Any]], Sequence[dict[str, Any]]]],
    reference: dict[str, Any] | None,
    out_path: str | Path,
    title: str = "",
) -> Path:
    """``series``: label -> (all candidates' metrics, front members' metrics); one colour each.
    Left: params (log) vs val_adversarial_acc; right: val_natural_acc vs val_adversarial_acc. Front members are
    outlined markers, the other candidates faint, the reference a black star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    views = [("params", "val_adversarial_acc", True), ("val_natural_acc", "val_adversarial_acc", False)]
    for ax, (x, y, log_x) in zip(axes, views):
        for (label, (everything, front)), (colour, marker) in zip(series.items(), SERIES_STYLE):
            ax.scatter([m[x] for m in everything], [m[y] for m in everything], c=colour, marker=marker, alpha=0.25, s=25)
            # no connecting line: a front over three objectives is not a curve in any two of them
            ax.scatter([m[x] for m in front], [m[y] for m in front], c=colour, marker=marker, s=55,
                       edgecolors="black", linewidths=0.6, label=f"{label} front")
        if reference is not None:
            ax.scatter([reference[x]], [reference[y]], c="black", marker="*", s=180, label="hand-designed", zorder=5)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path
