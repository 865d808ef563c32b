"""Real Flower simulations (Ray backend) on a tiny federation: outputs, failures, resume."""

import csv
import json
import shutil

import pytest

from fedrobust.federated.simulate import simulate
from fedrobust.seeding import derive_seed
from tests.federated_helpers import make_federation, sim_config

REQUIRED_COLUMNS = {"client_id", "algorithm", "phase", "n_train", "n_test", "natural_acc", "adversarial_acc", "loss",
                    "majority_acc", "top_class_share", "constant", "natural_acc_ci95_low", "natural_acc_ci95_high",
                    "adversarial_acc[fast_deepwordbug@0.1]", "attack_success_rate[fast_pwws@0.25]"}


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("fed"), num_owners=6)  # one owner becomes the public split


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_two_round_simulation_writes_per_client_tables(federation, tmp_path):
    data_dir, model_dir = federation
    summary = simulate(sim_config(data_dir, model_dir), tmp_path / "run")
    rows = _rows(tmp_path / "run" / "clients.csv")
    assert REQUIRED_COLUMNS <= set(rows[0])
    assert len(rows) == 10 and {r["phase"] for r in rows} == {"global", "personalized"}
    assert len({r["client_id"] for r in rows}) == 5
    rounds = _rows(tmp_path / "run" / "rounds.csv")
    assert [int(r["round"]) for r in rounds] == [1, 2] and all(int(r["succeeded"]) >= 2 for r in rounds)
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["round_0001.safetensors", "round_0002.safetensors"]
    for phase in ("global", "personalized"):
        assert {"mean", "median", "p10", "worst", "std"} <= set(summary[phase]["natural_acc"])
        # accuracy under attack is summarized over the devices whose model is not constant
        varied = [r for r in rows if r["phase"] == phase and r["constant"] == "0"]
        assert summary[phase]["adversarial_acc"]["clients"] == len(varied)
        assert summary[phase]["evidence"]["constant_devices"] == 5 - len(varied)
        assert summary[phase]["evidence"]["majority_acc"]["devices"] == 5
    assert all(0 <= float(r["majority_acc"]) <= 1 and float(r["top_class_share"]) >= 0.5 for r in rows)
    assert any("constant" in alarm or "majority" in alarm for alarm in summary["alarms"]) or not any(
        r["constant"] == "1" for r in rows)
    assert summary["failures"]["count"] == 0 and summary["wall_s"] > 0
    assert (tmp_path / "run" / "config.yaml").is_file()
    # personalization trained: at least one client's loss changed between phases
    losses = {(r["client_id"], r["phase"]): float(r["loss"]) for r in rows}
    assert any(losses[(c, "global")] != losses[(c, "personalized")] for c, _ in losses)


def test_failing_clients_are_counted_and_the_run_completes(federation, tmp_path):
    data_dir, model_dir = federation
    fraction = 0.3
    expected = {p for p in range(5) if derive_seed(0, "inject-failure", p) / 2**31 < fraction}
    assert 0 < len(expected) < 5, "pick a fraction that makes some but not all clients fail"
    config = sim_config(data_dir, model_dir, rounds=1, fraction_train=1.0,
                        simulation={"inject_failure_fraction": fraction})
    summary = simulate(config, tmp_path / "run")
    assert summary["failures"]["count"] == len(expected)
    assert summary["clients_evaluated"] == 5 - len(expected)
    assert all("injected failure" in reason for reason in summary["failures"]["clients"].values())
    assert int(_rows(tmp_path / "run" / "rounds.csv")[0]["failed"]) == len(expected)


def test_resumed_run_ends_with_the_same_per_client_metrics(federation, tmp_path):
    """A run cut off after round 1 and restarted matches an uninterrupted run exactly."""
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="ditto", rounds=2)
    full = tmp_path / "full"
    simulate(config, full)
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    # the state a kill during round 2 leaves: round 1 committed, nothing after it
    (cut / "checkpoints" / "round_0002.safetensors").unlink()
    progress = json.loads((cut / "progress.json").read_text())
    progress.update(completed_round=1, rounds=progress["rounds"][:1])
    (cut / "progress.json").write_text(json.dumps(progress))
    for name in ("clients.csv", "summary.json", "rounds.csv"):
        (cut / name).unlink()
    summary = simulate(config, cut)
    assert summary["rounds_completed"] == 2
    assert (cut / "clients.csv").read_text() == (full / "clients.csv").read_text()


def test_a_run_directory_with_another_config_is_refused(federation, tmp_path):
    from fedrobust.errors import ConfigError

    data_dir, model_dir = federation
    progress = {"fingerprint": "something-else", "completed_round": 1, "rounds": []}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "progress.json").write_text(json.dumps(progress))
    with pytest.raises(ConfigError, match="different config"):
        simulate(sim_config(data_dir, model_dir, rounds=1), tmp_path / "run")
