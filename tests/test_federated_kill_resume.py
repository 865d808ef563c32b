"""SIGKILL a real `fedrobust simulate` after round 1 and restart it: it resumes at round 2 and
ends with the same per-client metrics as an uninterrupted run (with round DP's adaptive clipping
bound too)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.federated_helpers import make_federation
from tests.process_helpers import sigkill_when

pytestmark = pytest.mark.slow


def _command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fedrobust.cli.main", "simulate", "--config", str(config), "--out", str(out)]


def _completed_round(out: Path) -> int:
    try:
        return json.loads((out / "progress.json").read_text())["completed_round"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _run_killed_and_resumed(config, tmp_path):
    """(uninterrupted run dir, killed-then-resumed run dir, rounds done before the kill, the resume's
    process) of a 3-round simulate config."""
    full = tmp_path / "full"
    subprocess.run(_command(config, full), check=True, capture_output=True)
    cut = tmp_path / "cut"
    sigkill_when(_command(config, cut), lambda: _completed_round(cut) >= 1, timeout_s=300)
    killed_after = _completed_round(cut)
    assert 1 <= killed_after < 3 and not (cut / "summary.json").exists(), "the kill should land mid-run"
    resumed = subprocess.run(_command(config, cut), check=True, capture_output=True, text=True)
    assert f"resuming after round {killed_after}/3" in resumed.stdout
    return full, cut, killed_after, resumed


def test_sigkill_after_a_round_then_resume(tmp_path):
    data_dir, model_dir = make_federation(tmp_path, num_owners=6)
    config = tmp_path / "sim.yaml"
    # many local epochs so that each round takes seconds and the kill lands between rounds
    config.write_text(yaml.safe_dump({
        "data": str(data_dir), "model": str(model_dir), "algorithm": "ditto", "rounds": 3, "fraction_train": 1.0,
        "local": {"epochs": 60, "batch_size": 8}, "personalize": {"epochs": 2}, "evaluate": {"examples": 2},
    }))
    full, cut, killed_after, resumed = _run_killed_and_resumed(config, tmp_path)
    assert f"[round {killed_after}/3]" not in resumed.stdout  # finished rounds are not redone
    assert (cut / "clients.csv").read_text() == (full / "clients.csv").read_text()


def test_sigkill_then_resume_keeps_the_adaptive_clipping_bound(tmp_path):
    """Round DP with adaptive clipping: the bound reached before the kill is checkpointed, so the
    resumed run clips and noises like the uninterrupted one."""
    data_dir, model_dir = make_federation(tmp_path, num_owners=6)
    config = tmp_path / "sim.yaml"
    config.write_text(yaml.safe_dump({
        "data": str(data_dir), "model": str(model_dir), "algorithm": "fedavg_ft", "rounds": 3, "fraction_train": 1.0,
        "local": {"epochs": 60, "batch_size": 8}, "personalize": {"epochs": 1}, "evaluate": {"examples": 0},
        "privacy": {"rounds": {"mode": "server_adaptive", "noise_multiplier": 0.5, "clipping_norm": 0.01,
                               "clipped_count_stddev": 1.0}},
    }))
    full, cut, killed_after, resumed = _run_killed_and_resumed(config, tmp_path)
    assert (cut / "clients.csv").read_text() == (full / "clients.csv").read_text()
    final = json.loads((full / "summary.json").read_text())["round_dp"]["final_clipping_norm"]
    assert json.loads((cut / "summary.json").read_text())["round_dp"]["final_clipping_norm"] == final != 0.01

    def bounds(out):
        with open(out / "rounds.csv") as handle:
            return [float(row["dp_clipping_norm"]) for row in csv.DictReader(handle)]

    assert bounds(cut) == bounds(full) and bounds(full)[0] == 0.01 and len(set(bounds(full))) == 3


def test_sigkill_during_the_final_phase_then_resume_keeps_the_nodes_that_finished(tmp_path):
    """The final phase (personalize and measure every device) keeps each node's reply as it arrives:
    killed after some nodes replied, the rerun sends only the others and writes the same clients.csv."""
    data_dir, model_dir = make_federation(tmp_path, num_owners=6)
    config = tmp_path / "sim.yaml"
    # one device per node and many personalization epochs: the phase has a message of seconds per device
    config.write_text(yaml.safe_dump({
        "data": str(data_dir), "model": str(model_dir), "algorithm": "fedavg_ft", "rounds": 1, "fraction_train": 1.0,
        "local": {"epochs": 1, "batch_size": 8}, "personalize": {"epochs": 150}, "evaluate": {"examples": 2},
        "simulation": {"devices_per_node": 1},
    }))
    full = tmp_path / "full"
    subprocess.run(_command(config, full), check=True, capture_output=True)
    assert not (full / "evaluation_replies").exists()  # removed once the summary is written
    cut = tmp_path / "cut"

    def kept() -> int:
        return len(list((cut / "evaluation_replies").glob("*/*.pb")))

    sigkill_when(_command(config, cut), lambda: kept() >= 2, timeout_s=300)
    before = kept()
    nodes = len({row["partition_id"] for row in csv.DictReader(open(full / "clients.csv"))})  # one device each
    assert 2 <= before < nodes and not (cut / "summary.json").exists(), "the kill should land mid-phase"
    resumed = subprocess.run(_command(config, cut), check=True, capture_output=True, text=True)
    assert "resuming after round 1/1" in resumed.stdout
    assert f"the results of {before} of {nodes} nodes were kept by an interrupted run" in resumed.stdout
    assert (cut / "clients.csv").read_text() == (full / "clients.csv").read_text()
    assert not (cut / "evaluation_replies").exists()
