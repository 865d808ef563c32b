"""Several devices per Flower node give exactly the per-device results of one device per node."""

import csv

import pytest

from fedrobust.federated.cohorts import devices_of_node, num_nodes, pack_reply, unpack_reply
from fedrobust.federated.simulate import simulate
from fedrobust.seeding import derive_seed
from tests.federated_helpers import make_federation, sim_config


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("cohorts"), num_owners=6)  # 5 device clients


def _table(path, drop=()):
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(handle)]


def test_cohorts_cover_every_device_once():
    assert num_nodes(10_000, 64) == 157
    covered = [d for node in range(num_nodes(10, 3)) for d in devices_of_node(node, 3, 10)]
    assert covered == list(range(10)) and devices_of_node(4, 3, 10) == []
    from flwr.app import MetricRecord

    devices, failed = unpack_reply(pack_reply({}, {7: MetricRecord({"x": 1.0})}, {9: "boom"}))
    assert list(devices) == [7] and devices[7]["metrics"]["x"] == 1.0 and failed == {9: "boom"}


# robust_student and ditto measure the received model in the global phase, so a cohort pools the
# attacks of that phase (device_eval.cohort_global_attacks); fedrep loads device state into it;
# apfl and fedala keep a local model per device between rounds (slow: two more simulations each)
@pytest.mark.parametrize("algorithm", ["robust_student", "ditto", "fedrep", pytest.param("apfl", marks=pytest.mark.slow),
                                       pytest.param("fedala", marks=pytest.mark.slow)])
def test_cohort_mode_matches_one_device_per_node(federation, tmp_path, algorithm):
    data_dir, model_dir = federation
    runs = {}
    for per_node in (1, 3):  # 5 devices: nodes of 3 and 2
        config = sim_config(data_dir, model_dir, algorithm=algorithm, rounds=2, fraction_train=0.6,
                            simulation={"devices_per_node": per_node})
        runs[per_node] = simulate(config, tmp_path / f"per_node_{per_node}")
    assert runs[3]["devices_per_node"] == 3 and runs[1]["clients"] == runs[3]["clients"] == 5
    one, cohort = tmp_path / "per_node_1", tmp_path / "per_node_3"
    assert _table(one / "clients.csv") == _table(cohort / "clients.csv")
    assert _table(one / "rounds.csv", drop={"wall_s"}) == _table(cohort / "rounds.csv", drop={"wall_s"})
    assert (one / "checkpoints" / "round_0002.safetensors").read_bytes() == (cohort / "checkpoints" / "round_0002.safetensors").read_bytes()
    states = sorted(p.relative_to(one) for p in (one / "client_state").rglob("*.safetensors"))
    assert states == sorted(p.relative_to(cohort) for p in (cohort / "client_state").rglob("*.safetensors"))
    assert all((one / p).read_bytes() == (cohort / p).read_bytes() for p in states)
    if algorithm == "fedala":  # some device merged with its kept local model (its weights W are in its state)
        from safetensors.torch import load_file

        assert any(k.startswith("ala_weight.") for p in states for k in load_file(str(one / p)))


def test_a_failing_device_does_not_take_its_cohort_down(federation, tmp_path):
    data_dir, model_dir = federation
    fraction = 0.3
    expected = {p for p in range(5) if derive_seed(0, "inject-failure", p) / 2**31 < fraction}
    assert 0 < len(expected) < 5
    config = sim_config(data_dir, model_dir, rounds=1, fraction_train=1.0,
                        simulation={"inject_failure_fraction": fraction, "devices_per_node": 5})
    summary = simulate(config, tmp_path / "run")
    assert summary["failures"]["count"] == len(expected) and summary["clients_evaluated"] == 5 - len(expected)
    assert all("injected failure" in reason for reason in summary["failures"]["clients"].values())
