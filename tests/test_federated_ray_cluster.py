"""A real two-node Ray cluster on this machine (`ray start --head` + a second `ray start`): the
simulation connects to it by address and gives the same per-client results as a local run."""

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fedrobust.federated.simulate import simulate
from tests.federated_helpers import make_federation, sim_config

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str]) -> subprocess.Popen:
    # --block keeps `ray start` in the foreground; killing its process group stops that node only
    # (never `ray stop`, which would stop every Ray instance on the machine)
    return subprocess.Popen([RAY, "start", "--block", "--num-cpus=1", "--disable-usage-stats", *args],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _nodes_alive(address: str) -> int:
    code = (f"import ray; ray.init(address='{address}', logging_level='ERROR'); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return 0
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0


@pytest.fixture
def two_node_cluster():
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    head = _start(["--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                   f"--temp-dir={temp_dir}"])
    nodes = [head]
    try:
        deadline = time.time() + 90
        while not _port_open(port) and time.time() < deadline:
            time.sleep(0.5)
        nodes.append(_start([f"--address={address}", "--node-ip-address=127.0.0.1"]))
        while _nodes_alive(address) < 2 and time.time() < deadline + 90:
            time.sleep(1)
        assert _nodes_alive(address) == 2, "the two-node cluster did not come up"
        yield address
    finally:
        for process in reversed(nodes):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_simulation_on_a_two_node_cluster_matches_a_local_run(two_node_cluster, tmp_path):
    data_dir, model_dir = make_federation(tmp_path, num_owners=6)
    local = sim_config(data_dir, model_dir, rounds=1, simulation={"devices_per_node": 2})
    simulate(local, tmp_path / "local")
    remote = sim_config(data_dir, model_dir, rounds=1,
                        simulation={"devices_per_node": 2, "ray_address": two_node_cluster})
    summary = simulate(remote, tmp_path / "cluster")
    assert summary["clients_evaluated"] == 5
    assert _rows(tmp_path / "cluster" / "clients.csv") == _rows(tmp_path / "local" / "clients.csv")
