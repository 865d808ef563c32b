"""A real Flower simulation with every privacy feature on: DP rounds (Flower's adaptive-clipping
wrapper), DP-SGD personalization and both membership-inference attacks, into clients.csv and
summary.json."""

import csv
import math

import pytest

from fedrobust.federated.simulate import simulate
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
    assert len({r["rounds_epsilon"] for r in rows}) == 1 and 0 < float(rows[0]["rounds_epsilon"]) < math.inf
    assert all(0 <= float(r["mia_reference_calibrated_auc"]) <= 1 for r in personalized)
    assert summary["privacy"]["personalized"]["mia_loss_threshold_auc"]["clients"] == len(personalized)
