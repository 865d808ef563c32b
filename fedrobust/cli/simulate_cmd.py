"""`fedrobust simulate --config FILE --out DIR [--set key=value ...]`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fedrobust.config_schema import parse_override
from fedrobust.federated.config import load_config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("simulate", help="federated rounds + on-device personalization + per-client evaluation (Flower on Ray)")
    p.add_argument("--config", required=True, type=Path, help="simulation YAML (see configs/simulate_*.yaml)")
    p.add_argument("--out", required=True, type=Path, help="run directory (a killed run resumes from it)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set algorithm=fedavg --set local.epochs=2 "
                        "--set 'algorithm={ditto: {lam: 0.2}}'")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fedrobust.federated.simulate import simulate
    from fedrobust.pipeline.lock import run_folder_lock

    overrides = dict(parse_override(item) for item in args.overrides)
    config = load_config(args.config, overrides)
    with run_folder_lock(args.out, "fedrobust simulate"):
        summary = simulate(config, args.out, verbose=logging.getLogger().level <= logging.DEBUG)
    print(format_summary(summary))
    print(f"results: {args.out}/clients.csv, rounds.csv, summary.json")
    return 0


def format_summary(summary: dict) -> str:
    lines = [f"{'phase':<14}{'metric':<17}{'mean':>7}{'median':>8}{'p10':>7}{'worst':>7}{'std':>7}"]
    for phase in ("global", "personalized"):
        for metric in ("natural_acc", "adversarial_acc"):
            d = summary[phase][metric]
            if d.get("clients"):
                lines.append(f"{phase:<14}{metric:<17}{d['mean']:>7.3f}{d['median']:>8.3f}{d['p10']:>7.3f}{d['worst']:>7.3f}{d['std']:>7.3f}")
    evidence = summary["personalized"].get("evidence", {})
    if evidence:
        majority = evidence["majority_acc"]
        lines.append(f"majority-label baseline (macro over devices) {majority['macro']:.3f}; adversarial_acc leaves out "
                     f"{evidence['constant_devices']} constant-model devices")
    for column, change in summary.get("explanations", {}).get("change", {}).items():
        glob, pers = (summary["explanations"][phase][column]["mean"] for phase in ("global", "personalized"))
        low, high = change["ci95"]
        lines.append(f"{column} (agreement with the teacher) global {glob:.3f}, personalized {pers:.3f}; change per "
                     f"device {change['mean']:+.3f} [{low:+.3f}, {high:+.3f}] over {change['devices']} devices")
    lines.append(f"clients evaluated {summary['clients_evaluated']}/{summary['clients']}, failures {summary['failures']['count']}, wall {summary.get('wall_s', '?')} s")
    lines += [f"WARNING: {alarm}" for alarm in summary.get("alarms", [])]
    return "\n".join(lines)
