"""`flwr run .`, Flower's supported entry point, runs the same apps as `fedrobust simulate`: the app
bundle Flower builds holds every module of the package, and a run gives the same clients.csv."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from fedrobust.cli.main import main as cli_main
from tests.federated_helpers import make_federation

REPO = Path(__file__).resolve().parents[1]


def test_flower_app_bundle_keeps_every_module_of_the_package():
    # Flower leaves out of the bundle (FAB) every `test_*.py` and `*_test.py`, whatever the project
    # says: a library module so named is missing when `flwr run .` imports the apps
    from flwr.cli.build import get_filtered_fab_paths

    modules = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "fedrobust").rglob("*.py"))
    files = {name: REPO / name for name in [*modules, "pyproject.toml"]}
    bundled = set(get_filtered_fab_paths(files, tomllib.loads((REPO / "pyproject.toml").read_text())))
    assert [m for m in modules if m not in bundled] == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (the daemons `flwr run` leaves behind)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.slow
def test_flwr_run_gives_the_same_clients_csv_as_fedrobust_simulate(tmp_path):
    data_dir, model_dir = make_federation(tmp_path)
    config = tmp_path / "sim.yaml"
    config.write_text(yaml.safe_dump({
        "data": str(data_dir), "model": str(model_dir), "algorithm": "fedavg_ft", "rounds": 1,
        "fraction_train": 0.5, "seed": 0, "local": {"epochs": 1, "batch_size": 8},
        "personalize": {"epochs": 1, "batch_size": 8}, "evaluate": {"examples": 2}}))
    assert cli_main(["simulate", "--config", str(config), "--out", str(tmp_path / "simulate")]) == 0

    # Flower's home (installed apps, the local SuperLink's state and log) and the SuperLink's ports
    # are this test's own, so neither the user's ~/.flwr nor a SuperLink already running is touched
    flwr_home, link_port = tmp_path / "flwr_home", free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "FLWR_HOME": str(flwr_home),
           "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": str(link_port), "FLWR_LOCAL_CONTROL_API_PORT": str(free_port())}
    try:
        done = subprocess.run(
            ["flwr", "run", ".", "local", "--federation-config", "num-supernodes=5",
             "--run-config", f"config='{config}' out='{tmp_path / 'flwr_run'}'", "--stream"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    finally:  # the detached SuperLink and its simulation process outlive `flwr run`
        for pid in processes_mentioning(str(flwr_home)) + processes_mentioning(f"127.0.0.1:{link_port}"):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "flwr_run" / "clients.csv").read_bytes() == (tmp_path / "simulate" / "clients.csv").read_bytes()
