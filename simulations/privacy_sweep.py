"""The privacy-personalization trade-off, per device: a sweep over DP-SGD noise levels (and no DP)
and personalization settings, each point a `fedrobust run` of one config with overrides.

    .venv/bin/python simulations/privacy_sweep.py --config configs/privacy_sweep.yaml \
        --out runs/privacy_sweep [--noise none,0.5,1,2,8] [--params all,head] [--set key=value ...]
    (or --grid head:none,0.5,1,2,8 --grid all:none,1,8 for other noise levels per setting)

Each point runs into OUT/points/<label>/ (stages shared through the config's stage_cache, so the
data, teacher and student are made once; a finished point is reused, a killed one resumes). Then
from the points' clients.csv it writes OUT/table.md + OUT/table.csv (per point: each device's
epsilon, personalization gain natural and under attack, membership-inference AUC and TPR at 1% FPR,
as median and 10th-90th percentile over devices) and the plots OUT/gain_vs_epsilon.png and
OUT/mia_vs_epsilon.png (one marker per point: the mean over devices, at the devices' median epsilon;
a bar spanning the 10th-90th percentile of devices; "no DP" is drawn at the right edge).
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from fedrobust.config_schema import parse_override
from fedrobust.pipeline import load_run_config, run_study
from fedrobust.report.collect import load_run

NO_DP = "none"
MIA = ("loss_threshold", "reference_calibrated")


@dataclass(frozen=True)
class SweepPoint:
    noise: float | None  # None: no DP
    params: str

    @property
    def label(self) -> str:
        noise = "nodp" if self.noise is None else f"sigma{self.noise:g}"
        return f"{noise}-{self.params}"

    def overrides(self) -> dict[str, Any]:
        return {"federated.personalize.dp.noise_multiplier": self.noise, "federated.personalize.params": self.params}


def run_point(config_path: Path, point: SweepPoint, common: dict[str, Any], out: Path) -> Path:
    config = load_run_config(config_path, {**common, **point.overrides(), "name": point.label})
    folder = out / "points" / point.label
    print(f"=== {point.label} -> {folder}", flush=True)
    run_study(config, folder)
    return folder


def _spread(values: Iterable[float]) -> dict[str, float]:
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return {"median": math.nan, "mean": math.nan, "p10": math.nan, "p90": math.nan, "n": 0}
    return {"median": float(np.median(finite)), "mean": float(finite.mean()), "p10": float(np.percentile(finite, 10)),
            "p90": float(np.percentile(finite, 90)), "n": int(finite.size)}


def point_results(point: SweepPoint, folder: Path) -> dict[str, Any]:
    """Per-device series of one point, from its run's clients.csv."""
    arm = load_run(folder).arms[0]
    before = {r["client_id"]: r for r in arm.phase("global")}
    after = [r for r in arm.phase("personalized") if r["client_id"] in before]
    series = {
        "epsilon": [r["dp_epsilon"] for r in after],
        "gain_natural": [r["natural_acc"] - before[r["client_id"]]["natural_acc"] for r in after],
        "gain_adversarial": [r["adversarial_acc"] - before[r["client_id"]]["adversarial_acc"] for r in after],
        "acc_natural": [r["natural_acc"] for r in after],
        "acc_adversarial": [r["adversarial_acc"] for r in after],
        "global_natural": [before[r["client_id"]]["natural_acc"] for r in after],
    }
    for attack in MIA:
        series[f"auc_{attack}"] = [r[f"mia_{attack}_auc"] for r in after]
        series[f"tpr_{attack}"] = [r[f"mia_{attack}_tpr_at_1pct_fpr"] for r in after]
    series["auc_loss_threshold_global"] = [before[r["client_id"]]["mia_loss_threshold_auc"] for r in after]
    return {"point": point, "devices": len(after), "series": series}


def _fmt(spread: dict[str, float], signed: bool = False) -> str:
    if spread["n"] == 0:
        return "–"
    sign = "+" if signed else ""
    return f"{spread['median']:{sign}.3f} [{spread['p10']:{sign}.3f}, {spread['p90']:{sign}.3f}]"


def _fmt_epsilon(values: list[float]) -> str:
    if values and all(math.isinf(v) for v in values):
        return "∞ (no DP)"
    s = _spread(values)
    return f"{s['median']:.2f} [{s['p10']:.2f}, {s['p90']:.2f}]"


TABLE_COLUMNS = ["point", "noise_multiplier", "params", "devices", "epsilon_median", "epsilon_p10", "epsilon_p90",
                 "gain_natural_mean", "gain_natural_median", "gain_natural_p10", "gain_natural_p90",
                 "gain_adversarial_mean", "gain_adversarial_p10", "gain_adversarial_p90",
                 "acc_natural_mean", "acc_adversarial_mean",
                 *[f"auc_{a}_{s}" for a in MIA for s in ("mean", "p10", "p90")],
                 *[f"tpr_{a}_mean" for a in MIA], "auc_loss_threshold_global_mean"]


def table_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        point, series = result["point"], result["series"]
        eps = _spread(series["epsilon"])
        row = {"point": point.label, "noise_multiplier": NO_DP if point.noise is None else point.noise,
               "params": point.params, "devices": result["devices"],
               "epsilon_median": eps["median"] if point.noise is not None else math.inf,
               "epsilon_p10": eps["p10"], "epsilon_p90": eps["p90"]}
        for key in ("gain_natural", "gain_adversarial", "acc_natural", "acc_adversarial", "auc_loss_threshold_global",
                    *[f"auc_{a}" for a in MIA], *[f"tpr_{a}" for a in MIA]):
            s = _spread(series[key])
            row.update({f"{key}_mean": s["mean"], f"{key}_median": s["median"], f"{key}_p10": s["p10"], f"{key}_p90": s["p90"]})
        rows.append(row)
    return rows


def markdown_table(results: list[dict[str, Any]]) -> str:
    header = ("| noise σ | params | devices | ε per device (δ=1e-5) | gain natural: mean; median [p10, p90] | "
              "gain under attack: mean [p10, p90] | acc natural / under attack (pers.) | "
              "MIA loss AUC [p10, p90] | MIA calibrated AUC [p10, p90] | TPR@1%FPR loss / calibrated | "
              "MIA loss AUC, global model |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for result in results:
        point, series = result["point"], result["series"]
        s = {k: _spread(v) for k, v in series.items() if k != "epsilon"}
        lines.append(
            f"| {NO_DP if point.noise is None else f'{point.noise:g}'} | {point.params} | {result['devices']} | "
            f"{_fmt_epsilon(series['epsilon'])} | {s['gain_natural']['mean']:+.3f}; {_fmt(s['gain_natural'], True)} | "
            f"{s['gain_adversarial']['mean']:+.3f} [{s['gain_adversarial']['p10']:+.2f}, {s['gain_adversarial']['p90']:+.2f}] | "
            f"{s['acc_natural']['mean']:.3f} / {s['acc_adversarial']['mean']:.3f} | "
            f"{s['auc_loss_threshold']['mean']:.3f} [{s['auc_loss_threshold']['p10']:.2f}, {s['auc_loss_threshold']['p90']:.2f}] | "
            f"{s['auc_reference_calibrated']['mean']:.3f} [{s['auc_reference_calibrated']['p10']:.2f}, {s['auc_reference_calibrated']['p90']:.2f}] | "
            f"{s['tpr_loss_threshold']['mean']:.3f} / {s['tpr_reference_calibrated']['mean']:.3f} | "
            f"{s['auc_loss_threshold_global']['mean']:.3f} |")
    return "\n".join(lines) + "\n"


def _x_positions(results: list[dict[str, Any]]) -> tuple[list[float], float]:
    """Median epsilon of each point; no-DP points sit at a slot right of the largest finite one."""
    finite = [_spread(r["series"]["epsilon"])["median"] for r in results if r["point"].noise is not None]
    right = max([v for v in finite if math.isfinite(v)], default=1.0) * 4
    xs = [right if r["point"].noise is None else _spread(r["series"]["epsilon"])["median"] for r in results]
    return xs, right


def _plot(results: list[dict[str, Any]], panels: list[tuple[str, str]], path: Path, reference: float | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, right = _x_positions(results)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    settings = sorted({r["point"].params for r in results})
    for ax, (key, title) in zip(axes[0], panels):
        for offset, params in enumerate(settings):
            chosen = sorted(((x, r) for x, r in zip(xs, results) if r["point"].params == params), key=lambda item: item[0])
            x = np.array([c[0] for c in chosen]) * (1 + 0.06 * offset)  # side by side on the log axis
            spreads = [_spread(c[1]["series"][key]) for c in chosen]
            mean = np.array([s["mean"] for s in spreads])
            low, high = np.array([s["p10"] for s in spreads]), np.array([s["p90"] for s in spreads])
            private = np.array([c[1]["point"].noise is not None for c in chosen])
            # the mean can lie outside the 10th-90th percentile range (gains are mostly 0 with a few
            # large ones), so the range is drawn as its own line rather than as error bars
            (line,) = ax.plot(x[private], mean[private], marker="o", label=f"params: {params} (mean)")
            ax.plot(x[~private], mean[~private], marker="s", linestyle="none", color=line.get_color())
            ax.vlines(x, low, high, color=line.get_color(), alpha=0.5, linewidth=3)
        if reference is not None:
            ax.axhline(reference, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ticks = sorted({x for x in xs if x != right})
        ax.set_xticks(ticks + [right], [f"{t:.2g}" for t in ticks] + ["no DP"])
        ax.minorticks_off()
        ax.set_xlabel("ε per device (median over devices; δ = 1e-5)")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle("markers: mean over devices; bars: 10th-90th percentile of devices", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_outputs(results: list[dict[str, Any]], out: Path) -> list[Path]:
    rows = table_rows(results)
    with open(out / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TABLE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    (out / "table.md").write_text(markdown_table(results))
    gain = _plot(results, [("gain_natural", "personalization gain, natural accuracy"),
                           ("gain_adversarial", "personalization gain, accuracy under attack")],
                 out / "gain_vs_epsilon.png", reference=0.0)
    mia = _plot(results, [("auc_loss_threshold", "membership inference AUC: loss threshold"),
                          ("auc_reference_calibrated", "membership inference AUC: calibrated (LiRA offline)")],
                out / "mia_vs_epsilon.png", reference=0.5)
    return [out / "table.md", out / "table.csv", gain, mia]


def parse_noise(text: str) -> list[float | None]:
    return [None if item.strip().lower() in (NO_DP, "nodp") else float(item) for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/privacy_sweep.yaml"))
    parser.add_argument("--out", type=Path, default=Path("runs/privacy_sweep"))
    parser.add_argument("--noise", default="none,0.5,1,2,8", help="DP-SGD noise multipliers; 'none' = no DP")
    parser.add_argument("--params", default="all,head", help="personalized parameter groups (all, head, adapters)")
    parser.add_argument("--grid", action="append", default=[], metavar="PARAMS:NOISES",
                        help="one personalization setting and its noise levels, e.g. all:none,1,8 (repeatable; "
                             "replaces --noise/--params)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a run-config override applied to every point, e.g. data.path=/tmp/rt")
    args = parser.parse_args(argv)
    common = dict(parse_override(item) for item in args.overrides)
    grid = [item.split(":", 1) for item in args.grid] or [(params, args.noise) for params in args.params.split(",")]
    points = [SweepPoint(noise, params) for params, noises in grid for noise in parse_noise(noises)]
    args.out.mkdir(parents=True, exist_ok=True)
    results = [point_results(p, run_point(args.config, p, common, args.out)) for p in points]
    paths = write_outputs(results, args.out)
    print((args.out / "table.md").read_text())
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
