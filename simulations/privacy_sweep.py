"""The privacy-personalization trade-off, per device: a sweep over DP-SGD noise levels (and no DP)
and personalization settings, each point a `fedrobust run` of one config with overrides, over
every device and the config's federation seeds (configs/privacy_sweep.yaml: federated_seeds [0, 1, 2]).

    .venv/bin/python simulations/privacy_sweep.py --config configs/privacy_sweep.yaml \
        --out runs/privacy_sweep [--noise none,0.5,1,2,8] [--params all,head] [--set key=value ...]
    (or --grid head:none,0.5,1,2,8 --grid all:none,1,8 for other noise levels per setting)

Each point runs into OUT/points/<label>/ (one run per seed in seed-<s>/; stages shared through the
config's stage_cache, so the data, teacher and student are made once; a finished point is reused,
a killed one resumes). Then from the points' clients.csv and federation summaries it writes
OUT/table.md + OUT/table.csv, one row per point:

- the device's epsilon (``device_epsilon`` of the personalized model: every step on the device's
  data, fedrobust.federated.device_privacy): median over devices, and how many are finite;
- the gain of the personalized model in natural accuracy over each device's majority-label
  baseline (``majority_acc``: always predicting the label most frequent in the device's training
  texts), and its gain under attack over the global model it started from, on the same device
  (a constant predictor cannot be flipped, so its accuracy under attack is its natural one:
  devices where either model is constant are left out of the gain under attack): the mean over
  devices of the seed-averaged gain with its 95% bootstrap interval over devices, and the sd of
  the per-seed means over seeds;
- the headline privacy figure, the membership attack pooled over all devices (one threshold):
  AUC and TPR at 1% FPR per attack, mean ± sd over seeds, with the pooled non-members.

and the plots OUT/gain_vs_epsilon.png (the two gains vs the median device
epsilon; bars: 95% interval over devices) and OUT/mia_vs_epsilon.png (pooled AUC vs epsilon; bars:
sd over seeds); a point without a finite epsilon (no DP) is drawn at the right edge.
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from fedrobust.config_schema import parse_override
from fedrobust.evaluation.device_statistics import across_seeds, summarize_differences
from fedrobust.evaluation.device_summary import is_constant
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


def seed_folders(folder: Path) -> dict[int, Path]:
    """A point's run per federation seed (RUN_DIR/seed-<s>/), or the point itself run with one seed."""
    seeds = {int(p.name.split("-", 1)[1]): p for p in folder.glob("seed-*") if p.name.split("-", 1)[1].isdigit()}
    return dict(sorted(seeds.items())) or {0: folder}


def point_results(point: SweepPoint, folder: Path) -> dict[str, Any]:
    """Per seed: both phases' clients.csv rows and the federation's pooled membership attack."""
    seeds = {}
    for seed, seed_dir in seed_folders(folder).items():
        arm = load_run(seed_dir).arms[0]
        privacy = arm.summary.get("privacy", {}).get("personalized", {})
        seeds[seed] = {"clients": arm.phase("personalized"), "global": arm.phase("global"),
                       "pooled": {a: privacy[f"mia_{a}_pooled"] for a in MIA if f"mia_{a}_pooled" in privacy}}
    return {"point": point, "seeds": seeds}


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def seed_figures(clients: list[Mapping[str, Any]], pooled: Mapping[str, Mapping[str, Any]],
                 global_rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One seed's per-device gains ({client_id: gain}: natural over the majority baseline, under attack
    over the global model) and its figures."""
    epsilons = np.array([_float(r.get("device_epsilon")) for r in clients])
    epsilons = epsilons[~np.isnan(epsilons)]
    natural = {r["client_id"]: _float(r["natural_acc"]) - _float(r["majority_acc"]) for r in clients}
    start = {r["client_id"]: r for r in global_rows}
    adversarial = {r["client_id"]: _float(r["adversarial_acc"]) - _float(start[r["client_id"]]["adversarial_acc"])
                   for r in clients if r["client_id"] in start and not (is_constant(r) or is_constant(start[r["client_id"]]))}
    figures = {"devices": len(clients), "finite_epsilon": int(np.isfinite(epsilons).sum()),
               "epsilon_median": float(np.median(epsilons)) if epsilons.size else math.nan,
               "gain_natural": natural, "gain_adversarial": adversarial}
    for attack in MIA:
        figures[f"auc_{attack}"] = _float(pooled.get(attack, {}).get("auc"))
        figures[f"tpr_{attack}"] = _float(pooled.get(attack, {}).get("tpr_at_1pct_fpr"))
        figures[f"nonmembers_{attack}"] = _float(pooled.get(attack, {}).get("n_nonmembers"))
    return figures


def _over_seeds(values: list[float]) -> dict[str, float]:
    """Mean ± sd over seeds; an epsilon that is infinite in every seed stays infinite."""
    if values and all(math.isinf(v) for v in values):
        return {"mean": math.inf, "sd": math.nan}
    summary = across_seeds(values)
    return {"mean": summary["mean"], "sd": summary["sd"]}


def _gain(per_seed: list[dict[str, float]], seed: int) -> dict[str, Any]:
    """Mean over devices of the seed-averaged gain, its bootstrap interval over devices, and the sd
    over seeds of the per-seed means."""
    devices = sorted({d for gains in per_seed for d in gains})
    averaged = [float(np.nanmean([g.get(d, math.nan) for g in per_seed])) for d in devices]
    summary = summarize_differences(averaged, seed=seed)
    seed_means = [float(np.nanmean(list(g.values()))) if g else math.nan for g in per_seed]
    return {"mean": summary["mean"], "ci_low": summary["ci95"][0], "ci_high": summary["ci95"][1],
            "devices": summary["devices"], "sd_seeds": across_seeds(seed_means)["sd"]}


TABLE_COLUMNS = ["point", "noise_multiplier", "params", "seeds", "devices", "epsilon_median", "epsilon_median_sd",
                 "finite_epsilon_devices",
                 *[f"gain_{k}_{s}" for k in ("natural", "adversarial")
                   for s in ("mean", "ci_low", "ci_high", "sd_seeds", "devices")],
                 *[f"mia_{a}_pooled_{m}_{s}" for a in MIA for m in ("auc", "tpr_at_1pct_fpr") for s in ("mean", "sd")],
                 *[f"mia_{a}_pooled_nonmembers" for a in MIA]]


def table_rows(results: list[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """One row per sweep point (see the module docstring for what each figure is)."""
    rows = []
    for result in results:
        point = result["point"]
        figures = [seed_figures(s["clients"], s["pooled"], s["global"]) for _, s in sorted(result["seeds"].items())]
        epsilon = _over_seeds([f["epsilon_median"] for f in figures])
        row: dict[str, Any] = {
            "point": point.label, "noise_multiplier": NO_DP if point.noise is None else point.noise,
            "params": point.params, "seeds": len(figures), "devices": max((f["devices"] for f in figures), default=0),
            "epsilon_median": epsilon["mean"], "epsilon_median_sd": epsilon["sd"],
            "finite_epsilon_devices": float(np.mean([f["finite_epsilon"] for f in figures])) if figures else math.nan,
        }
        for kind in ("natural", "adversarial"):
            gain = _gain([f[f"gain_{kind}"] for f in figures], seed)
            row.update({f"gain_{kind}_{key}": value for key, value in gain.items()})
        for attack in MIA:
            for metric, key in (("auc", "auc"), ("tpr_at_1pct_fpr", "tpr")):
                spread = across_seeds([f[f"{key}_{attack}"] for f in figures])
                row[f"mia_{attack}_pooled_{metric}_mean"], row[f"mia_{attack}_pooled_{metric}_sd"] = spread["mean"], spread["sd"]
            nonmembers = [f[f"nonmembers_{attack}"] for f in figures if math.isfinite(f[f"nonmembers_{attack}"])]
            row[f"mia_{attack}_pooled_nonmembers"] = int(np.mean(nonmembers)) if nonmembers else math.nan
        rows.append(row)
    return rows


def _pm(mean: float, sd: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if math.isfinite(sd) else "")


def _gain_text(row: Mapping[str, Any], kind: str) -> str:
    if math.isnan(row[f"gain_{kind}_mean"]):
        return "–"
    sd = row[f"gain_{kind}_sd_seeds"]
    return (f"{row[f'gain_{kind}_mean']:+.3f} [{row[f'gain_{kind}_ci_low']:+.3f}, {row[f'gain_{kind}_ci_high']:+.3f}]"
            + (f" (sd {sd:.3f})" if math.isfinite(sd) else "") + f", {row[f'gain_{kind}_devices']} dev.")


def _epsilon_text(row: Mapping[str, Any]) -> str:
    finite = f"{row['finite_epsilon_devices']:.0f}/{row['devices']} finite"
    if math.isinf(row["epsilon_median"]):
        return f"∞ ({finite})"
    return f"{_pm(row['epsilon_median'], row['epsilon_median_sd'], 2)} ({finite})"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    header = ("| noise σ | params | seeds | ε per device (median; finite) | gain natural over majority: mean [95% CI] | "
              "gain under attack over the global model | pooled MIA AUC loss / calibrated | pooled TPR@1%FPR loss / calibrated | "
              "pooled non-members |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        noise = row["noise_multiplier"]
        auc = " / ".join(_pm(row[f"mia_{a}_pooled_auc_mean"], row[f"mia_{a}_pooled_auc_sd"]) for a in MIA)
        tpr = " / ".join(_pm(row[f"mia_{a}_pooled_tpr_at_1pct_fpr_mean"], row[f"mia_{a}_pooled_tpr_at_1pct_fpr_sd"]) for a in MIA)
        lines.append(f"| {noise if noise == NO_DP else f'{noise:g}'} | {row['params']} | {row['seeds']} | {_epsilon_text(row)} | "
                     f"{_gain_text(row, 'natural')} | {_gain_text(row, 'adversarial')} | {auc} | {tpr} | "
                     f"{row[f'mia_{MIA[0]}_pooled_nonmembers']} |")
    note = ("\nε: the personalized model's epsilon over every step on the device's data (δ summed over the steps), "
            "median over devices, mean ± sd over seeds. Gains: personalized accuracy minus the device's majority-label "
            "accuracy (natural) or minus the global model's accuracy under attack on the same texts (devices where "
            "either model is constant left out), averaged over seeds per device; 95% bootstrap interval over devices; sd of the per-seed means. "
            "MIA: one threshold over all devices' scores (membership_scores.csv), mean ± sd over seeds.\n")
    return "\n".join(lines) + "\n" + note


def _x_positions(rows: list[dict[str, Any]]) -> tuple[list[float], float]:
    """Each point's median epsilon; points without a finite one sit at a slot right of the largest."""
    finite = [r["epsilon_median"] for r in rows if math.isfinite(r["epsilon_median"])]
    right = max(finite, default=1.0) * 4
    return [r["epsilon_median"] if math.isfinite(r["epsilon_median"]) else right for r in rows], right


def _plot(rows: list[dict[str, Any]], panels: list[tuple[str, str]], path: Path, reference: float) -> Path:
    """``panels``: (figure key, title); a key ``gain_*`` draws interval bars, ``mia_*`` sd bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, right = _x_positions(rows)
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    settings = sorted({r["params"] for r in rows})
    for ax, (key, title) in zip(axes[0], panels):
        for offset, params in enumerate(settings):
            chosen = sorted(((x, r) for x, r in zip(xs, rows) if r["params"] == params), key=lambda item: item[0])
            x = np.array([c[0] for c in chosen]) * (1 + 0.06 * offset)  # side by side on the log axis
            mean = np.array([c[1][f"{key}_mean"] for c in chosen], dtype=float)
            if key.startswith("gain_"):
                low = mean - np.array([c[1][f"{key}_ci_low"] for c in chosen], dtype=float)
                high = np.array([c[1][f"{key}_ci_high"] for c in chosen], dtype=float) - mean
            else:
                low = high = np.nan_to_num(np.array([c[1][f"{key}_sd"] for c in chosen], dtype=float))
            ax.errorbar(x, mean, yerr=[low, high], marker="o", capsize=3, label=f"params: {params}")
        ax.axhline(reference, color="grey", linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ticks = sorted({x for x in xs if x != right})
        ax.set_xticks(ticks + [right], [f"{t:.2g}" for t in ticks] + ["∞ (no DP)"])
        ax.minorticks_off()
        ax.set_xlabel("device ε, every step (median over devices)")
        ax.set_title(title)
        ax.legend(fontsize=8)
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
    (out / "table.md").write_text(markdown_table(rows))
    gain = _plot(rows, [("gain_natural", "gain over the majority baseline, natural accuracy (95% CI)"),
                        ("gain_adversarial", "gain under attack over the global model (95% CI)")],
                 out / "gain_vs_epsilon.png", reference=0.0)
    mia = _plot(rows, [(f"mia_{a}_pooled_auc", f"pooled membership inference AUC: {a} (± sd over seeds)") for a in MIA],
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
