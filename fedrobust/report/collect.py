"""Read finished runs for the report: a `fedrobust run` folder or a `fedrobust simulate` folder."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrobust.errors import DataError
from fedrobust.evaluation.metrics import with_current_names

CLIENTS_CSV = "clients.csv"
ROUNDS_CSV = "rounds.csv"


@dataclass
class Arm:
    """One algorithm's per-client results within one run."""

    label: str
    algorithm: str
    run: str
    clients: list[dict[str, Any]]  # clients.csv rows, numbers parsed
    rounds: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def phase(self, phase: str) -> list[dict[str, Any]]:
        return [r for r in self.clients if r["phase"] == phase]

    def gains(self) -> list[dict[str, Any]]:
        before = {r["client_id"]: r for r in self.phase("global")}
        return [{"client_id": r["client_id"], "n_train": r["n_train"],
                 "natural_acc": r["natural_acc"] - before[r["client_id"]]["natural_acc"],
                 "adversarial_acc": r["adversarial_acc"] - before[r["client_id"]]["adversarial_acc"]}
                for r in self.phase("personalized") if r["client_id"] in before]


@dataclass
class RunResults:
    name: str
    dir: Path
    summary: dict[str, Any]  # a `fedrobust run` summary.json, empty for a bare simulation folder
    arms: list[Arm]


def _number(value: str) -> Any:
    if value in ("", "None", "nan"):
        return math.nan
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def read_table(path: Path) -> list[dict[str, Any]]:
    """CSV rows with numbers parsed and metric columns under today's names (older runs wrote n_adv)."""
    with open(path, newline="") as handle:
        return [with_current_names({k: _number(v) if k not in ("client_id", "algorithm", "phase") else v
                                    for k, v in row.items()})
                for row in csv.DictReader(handle)]


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON file with metrics under today's names (older runs wrote adv_acc, clean_acc)."""
    try:
        return with_current_names(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _arm(folder: Path, run_name: str) -> Arm | None:
    if not (folder / CLIENTS_CSV).is_file():
        return None
    clients = read_table(folder / CLIENTS_CSV)
    summary = _read_json(folder / "summary.json") if (folder / "summary.json").is_file() else {}
    algorithm = summary.get("algorithm") or (clients[0]["algorithm"] if clients else folder.name)
    rounds = read_table(folder / ROUNDS_CSV) if (folder / ROUNDS_CSV).is_file() else []
    return Arm(label=algorithm, algorithm=algorithm, run=run_name, clients=clients, rounds=rounds, summary=summary)


def load_run(run_dir: str | Path) -> RunResults:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir} is not a folder")
    if (run_dir / "run.json").is_file():
        summary = _read_json(run_dir / "summary.json") if (run_dir / "summary.json").is_file() else {}
        record = _read_json(run_dir / "run.json")
        name = record.get("name") or run_dir.name
        # a stage folder inside run_dir is named relative to it
        folders = [run_dir / s["dir"] for stage, s in record.get("stages", {}).items() if stage.startswith("federated-")]
        arms = [a for a in (_arm(f, name) for f in folders) if a is not None]
    else:
        summary, name = {}, run_dir.name
        single = _arm(run_dir, name)
        arms = [single] if single else [a for a in (_arm(f, name) for f in sorted(run_dir.iterdir()) if f.is_dir()) if a]
    if not arms and not summary:
        raise DataError(f"{run_dir} holds no finished run: expected run.json (fedrobust run) or clients.csv (fedrobust simulate)")
    return RunResults(name=name, dir=run_dir, summary=summary, arms=arms)


def load_runs(run_dirs: list[str | Path]) -> list[RunResults]:
    runs = [load_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    for run in runs:  # runs of the same name are told apart by their folder
        if names.count(run.name) > 1:
            run.name = str(run.dir)
    many_runs = len(runs) > 1
    for run in runs:
        for arm in run.arms:
            arm.run = run.name
            arm.label = f"{run.name}/{arm.algorithm}" if many_runs and run.name != arm.algorithm else arm.algorithm
    return runs
