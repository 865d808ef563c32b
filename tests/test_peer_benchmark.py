"""The peer benchmark runs one FedAvg workload in three frameworks: its plain loop (and pfl-research,
where .venv-peer or pfl is there) reproduce fedrobust's global weights round by round, on the
devices fedrobust's server sampled."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fedrobust.data import FederatedDataset
from fedrobust.federated.simulate import simulate
from tests.federated_helpers import make_federation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
import peer_benchmark  # noqa: E402
from peer_benchmark import Workload, fedrobust_config, plain_fedavg, sampled_devices  # noqa: E402

ROUNDS, PER_ROUND = 2, 3
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # float rounding: fedrobust averages in float32, the loop in float64


@pytest.fixture(scope="module")
def fedrobust_run(tmp_path_factory):
    """fedrobust's FedAvg (cohorts of 2 devices per Flower node) on a tiny federation; the workload and
    the global weights after each round."""
    root = tmp_path_factory.mktemp("peer")
    data_dir, model_dir = make_federation(root, num_owners=6)
    num_devices = len(FederatedDataset.load(data_dir))
    workload = Workload(data=str(data_dir), model=str(model_dir), seed=0, local_epochs=2, lr=0.01, batch_size=4,
                        samples=sampled_devices(num_devices, PER_ROUND, ROUNDS, seed=0), threads=1,
                        devices_per_node=2)
    run_dir = root / "run"
    simulate(fedrobust_config(workload, num_devices), run_dir)
    checkpoints = [load_file(str(run_dir / "checkpoints" / f"round_{r:04d}.safetensors")) for r in range(1, ROUNDS + 1)]
    with open(run_dir / "rounds.csv") as handle:
        rounds = list(csv.DictReader(handle))
    return workload, checkpoints, rounds


def test_the_benchmark_samples_the_devices_fedrobust_trained(fedrobust_run):
    workload, _, rounds = fedrobust_run
    dataset = FederatedDataset.load(workload.data)
    assert workload.samples[0] != workload.samples[1]
    for row, devices in zip(rounds, workload.samples):
        assert len(devices) == int(row["sampled"]) == PER_ROUND
        assert sum(dataset.client(d).n_train for d in devices) == int(row["train_examples"])


def test_plain_loop_reproduces_fedrobusts_global_weights_every_round(fedrobust_run):
    workload, checkpoints, _ = fedrobust_run
    threads = torch.get_num_threads()
    try:
        states = [state for _, state in plain_fedavg(workload)]
    finally:
        torch.set_num_threads(threads)  # the loop sets the workload's count; later tests keep theirs
    assert len(states) == ROUNDS
    start = load_file(str(Path(workload.model) / "model.safetensors"))
    for state, fedrobust in zip(states, checkpoints):
        assert set(state) == set(fedrobust)
        for key, value in fedrobust.items():
            torch.testing.assert_close(state[key], value, **TOLERANCE)
    moved = max(float((checkpoints[-1][k] - start[k]).abs().max()) for k in checkpoints[-1])
    assert moved > 100 * TOLERANCE["atol"]  # the rounds trained: equal weights are not equal starts


def test_pfl_reproduces_fedrobusts_final_weights(fedrobust_run, tmp_path):
    workload, checkpoints, _ = fedrobust_run
    if importlib.util.find_spec("pfl") is not None:
        _, final, _ = peer_benchmark.pfl_fedavg(workload)
    elif peer_benchmark.PEER_PYTHON.exists():  # pfl lives in its own environment (scripts/setup_peer.sh)
        workload_path = tmp_path / "workload.json"
        workload.write(workload_path)
        command = peer_benchmark.child_command("pfl", workload, workload_path, tmp_path)
        subprocess.run(command, check=True, timeout=300)
        final = load_file(str(tmp_path / peer_benchmark.FINAL))
    else:
        pytest.skip("pfl is not installed here and .venv-peer is missing (bash scripts/setup_peer.sh)")
    for key, value in checkpoints[-1].items():
        torch.testing.assert_close(final[key], value, **TOLERANCE)
