"""The same successive-halving search on a real two-node Ray cluster on this machine (`ray start
--head` + a second `ray start`, one CPU each, two trials in flight) and in this process: the same
candidates, metrics (timings aside), front and reference, and bit-identical students."""

import json

import pytest

from fedrobust.search import config_from_mapping, run_search
from tests.test_federated_ray_cluster import two_node_cluster  # noqa: F401  (the cluster fixture)
from tests.test_search_final import tiny_search_mapping
from tests.test_search_resume import tiny_run  # noqa: F401  (the module's tiny data and teacher)

pytestmark = pytest.mark.slow
TIMINGS = ("search_seconds", "seconds", "train_seconds", "latency_ms")


def outcome(out_dir):
    def untimed(entry):
        return {**entry, "metrics": {k: v for k, v in entry["metrics"].items() if k not in TIMINGS}}

    pareto = json.loads((out_dir / "pareto.json").read_text())
    candidates = json.loads((out_dir / "candidates.json").read_text())
    return [untimed(e) for e in candidates], [untimed(e) for e in pareto["front"]], untimed(pareto["reference"])


def test_a_two_node_cluster_finds_what_a_local_run_finds(two_node_cluster, tiny_run, tmp_path):  # noqa: F811
    local = run_search(config_from_mapping(tiny_search_mapping(tiny_run)), tmp_path / "local")
    on_cluster = {**tiny_search_mapping(tiny_run),
                  "execution": {"backend": "ray", "ray_address": two_node_cluster, "max_parallel": 2}}
    remote = run_search(config_from_mapping(on_cluster), tmp_path / "cluster")
    assert remote.evaluated_now == local.evaluated_now == 8  # 4 + 2 + 1 candidates and the reference
    assert outcome(tmp_path / "cluster") == outcome(tmp_path / "local")
    for entry in json.loads((tmp_path / "local" / "candidates.json").read_text()):
        weights = [(tmp_path / run / "candidates" / entry["key"] / "student" / "model.safetensors").read_bytes()
                   for run in ("local", "cluster")]
        assert weights[0] == weights[1]


def test_a_private_ray_instance_finds_what_a_local_run_finds(tiny_run, tmp_path):  # noqa: F811
    """ray_address null: the search starts (and stops) its own Ray instance on this machine."""
    import ray

    run_search(config_from_mapping(tiny_search_mapping(tiny_run)), tmp_path / "local")
    private = {**tiny_search_mapping(tiny_run), "execution": {"backend": "ray", "max_parallel": 2}}
    run_search(config_from_mapping(private), tmp_path / "ray")
    assert outcome(tmp_path / "ray") == outcome(tmp_path / "local")
    assert not ray.is_initialized()
