"""Real Flower simulations with the privacy features on: DP rounds (Flower's adaptive-clipping
wrapper), DP-SGD personalization and both membership-inference attacks, into clients.csv,
membership_scores.csv and summary.json; round noise sized for the devices that answered."""

import csv
import math

import pytest

from fedrobust.federated.simulate import simulate
from fedrobust.seeding import derive_seed
from tests.federated_helpers import make_federation, sim_config


@pytest.mark.slow
def test_simulation_with_dp_rounds_dp_personalization_and_membership_inference(tmp_path):
    (tmp_path / "fed").mkdir()
    data_dir, model_dir = make_federation(tmp_path / "fed", num_owners=5)
    config = sim_config(
        data_dir, model_dir, algorithm="fedavg_ft", rounds=2, fraction_train=1.0,
        personalize={"dp": {"noise_multiplier": 1.0}},
        privacy={"rounds": {"mode": "server_adaptive", "noise_multiplier": 0.5, "clipped_count_stddev": 1.0},
                 "membership": {"attacks": ["loss_threshold", "reference_calibrated"], "reference_models": 1}})
    summary = simulate(config, tmp_path / "run")
    with open(tmp_path / "run" / "clients.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * summary["clients_evaluated"] > 0
    personalized = [r for r in rows if r["phase"] == "personalized"]
    assert all(0 < float(r["dp_epsilon"]) < math.inf for r in personalized)
    assert all(float(r["device_epsilon"]) == pytest.approx(float(r["dp_epsilon"]) + float(r["rounds_epsilon"]))
               for r in personalized)
    assert len({r["rounds_epsilon"] for r in rows}) == 1 and 0 < float(rows[0]["rounds_epsilon"]) < math.inf
    assert all(0 <= float(r["mia_reference_calibrated_auc"]) <= 1 for r in personalized)
    assert summary["privacy"]["personalized"]["mia_loss_threshold_auc"]["clients"] == len(personalized)


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_round_noise_is_sized_for_the_devices_that_answered(tmp_path):
    (tmp_path / "fed").mkdir()
    data_dir, model_dir = make_federation(tmp_path / "fed", num_owners=6)  # 5 devices
    fraction = 0.3
    failing = {p for p in range(5) if derive_seed(0, "inject-failure", p) / 2**31 < fraction}
    assert len(failing) == 1, "pick a fraction that makes exactly one device fail"
    config = sim_config(
        data_dir, model_dir, algorithm="fedavg_ft", rounds=1, fraction_train=1.0, evaluate={"examples": 0},
        personalize={"epochs": 1}, simulation={"inject_failure_fraction": fraction},
        privacy={"rounds": {"mode": "server_fixed", "noise_multiplier": 0.7, "clipping_norm": 0.4},
                 "membership": {"attacks": ["loss_threshold"]}})
    summary = simulate(config, tmp_path / "run")
    (row,) = _rows(tmp_path / "run" / "rounds.csv")
    assert int(row["sampled"]) == 5 and int(row["dp_averaged"]) == int(row["succeeded"]) == 4
    assert float(row["dp_noise_std"]) == pytest.approx(0.7 * 0.4 / 4)
    # the pooled attack: every evaluated device's scores, one threshold
    scores = _rows(tmp_path / "run" / "membership_scores.csv")
    assert {r["client_id"] for r in scores} == {r["client_id"] for r in _rows(tmp_path / "run" / "clients.csv")}
    pooled = summary["privacy"]["personalized"]["mia_loss_threshold_pooled"]
    assert pooled["devices"] == 4 and pooled["n_nonmembers"] == sum(
        1 for r in scores if r["phase"] == "personalized" and r["member"] == "0")
    assert 0 <= pooled["auc"] <= 1
