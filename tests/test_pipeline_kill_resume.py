"""SIGKILL a real `fedrobust run` in its federated stage and start it again: finished stages are
reused, the federation continues from its last round, and the results match an uninterrupted run."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.pipeline_helpers import tiny_run_mapping
from tests.process_helpers import sigkill_when

pytestmark = pytest.mark.slow


def _command(config, out):
    return [sys.executable, "-m", "fedrobust.cli.main", "run", str(config), "--out", str(out)]


def _ditto_run_config(tmp_path, rounds, local_epochs):
    """A tiny study with one Ditto federation over every client each round; returns its YAML path."""
    mapping = tiny_run_mapping(tmp_path, algorithms=["ditto"])
    mapping["federated"].update(rounds=rounds, fraction_train=1.0, local={"epochs": local_epochs, "batch_size": 8})
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(mapping))
    return config


def _completed_round(out):
    for progress in (out / "stages").glob("federated-ditto/*/progress.json"):
        try:
            return json.loads(progress.read_text())["completed_round"]
        except (json.JSONDecodeError, KeyError):
            return 0
    return 0


def test_sigkill_mid_federation_then_resume(tmp_path):
    config = _ditto_run_config(tmp_path, rounds=3, local_epochs=60)
    full = tmp_path / "full"
    subprocess.run(_command(config, full), check=True, capture_output=True)

    cut = tmp_path / "cut"
    sigkill_when(_command(config, cut), lambda: _completed_round(cut) >= 1, timeout_s=600)
    killed_after = _completed_round(cut)
    assert 1 <= killed_after < 3 and not (cut / "summary.json").exists(), "the kill should land mid-federation"

    resumed = subprocess.run(_command(config, cut), check=True, capture_output=True, text=True)
    for stage in ("data", "teacher", "distill", "evaluate"):
        assert f"] {stage}: reused" in resumed.stdout
    assert "federated-ditto: " in resumed.stdout and "(resuming)" in resumed.stdout
    assert f"resuming after round {killed_after}/3" in resumed.stdout
    clients = lambda run: next((run / "stages").glob("federated-ditto/*/clients.csv")).read_text()  # noqa: E731
    assert clients(cut) == clients(full)
    assert json.loads((cut / "summary.json").read_text())["federated"]["ditto"]["clients_evaluated"] == 5


def test_rerun_of_distill_makes_the_federation_again_from_round_zero(tmp_path):
    config = _ditto_run_config(tmp_path, rounds=2, local_epochs=2)
    out = tmp_path / "run"
    subprocess.run(_command(config, out), check=True, capture_output=True)
    clients_csv = next((out / "stages").glob("federated-ditto/*/clients.csv"))
    first_mtime = clients_csv.stat().st_mtime_ns

    again = subprocess.run(_command(config, out) + ["--rerun", "distill"], check=True, capture_output=True, text=True)
    for stage in ("data", "teacher"):
        assert f"] {stage}: reused" in again.stdout
    for stage in ("distill", "evaluate", "federated-ditto"):
        assert f"] {stage}: reused" not in again.stdout
    # its inputs changed under it: a finished federation must not "resume" its old checkpoints
    assert "(resuming)" not in again.stdout and "resuming after round" not in again.stdout
    assert clients_csv.stat().st_mtime_ns != first_mtime
