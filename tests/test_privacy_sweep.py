"""simulations/privacy_sweep.py: its table from hand-made per-seed runs (clients.csv + summary.json)."""

import csv
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))

import privacy_sweep  # noqa: E402
from privacy_sweep import SweepPoint, point_results, table_rows, write_outputs  # noqa: E402

COLUMNS = ["client_id", "algorithm", "phase", "natural_acc", "adversarial_acc", "majority_acc", "constant",
           "device_epsilon"]


def _device(client, natural, adversarial, majority, epsilon, constant=0):
    return {"client_id": client, "algorithm": "robust_student", "phase": "personalized", "natural_acc": natural,
            "adversarial_acc": adversarial, "majority_acc": majority, "constant": constant, "device_epsilon": epsilon}


def _write_seed(folder: Path, devices: list[dict], aucs: dict[str, float]) -> None:
    folder.mkdir(parents=True)
    with open(folder / "clients.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        # the global model: 0.1 less accurate under attack on every device, constant nowhere
        writer.writerows(devices + [{**d, "phase": "global", "adversarial_acc": d["adversarial_acc"] - 0.1,
                                     "constant": 0} for d in devices])
    pooled = {f"mia_{attack}_pooled": {"auc": auc, "tpr_at_1pct_fpr": auc / 10, "n_members": 300, "n_nonmembers": 120}
              for attack, auc in aucs.items()}
    (folder / "summary.json").write_text(json.dumps({"algorithm": "robust_student", "privacy": {"personalized": pooled}}))


@pytest.fixture
def sweep(tmp_path):
    private, plain = tmp_path / "sigma1-all", tmp_path / "nodp-all"
    # seed 0 and 1 of a DP point: device c is constant (kept out of the gain under attack)
    _write_seed(private / "seed-0", [_device("a", 0.8, 0.6, 0.5, 2.0), _device("b", 0.7, 0.5, 0.6, 3.0),
                                     _device("c", 0.9, 0.9, 0.9, 4.0, constant=1)],
                {"loss_threshold": 0.52, "reference_calibrated": 0.56})
    _write_seed(private / "seed-1", [_device("a", 0.6, 0.4, 0.5, 2.0), _device("b", 0.8, 0.7, 0.6, 3.0),
                                     _device("c", 0.9, 0.9, 0.9, 6.0, constant=1)],
                {"loss_threshold": 0.54, "reference_calibrated": 0.60})
    _write_seed(plain / "seed-0", [_device("a", 0.9, 0.7, 0.5, math.inf), _device("b", 0.8, 0.6, 0.6, math.inf),
                                   _device("c", 0.9, 0.9, 0.9, math.inf, constant=1)],
                {"loss_threshold": 0.70, "reference_calibrated": 0.80})
    return [point_results(SweepPoint(1.0, "all"), private), point_results(SweepPoint(None, "all"), plain)]


def test_table_reports_gains_over_the_baselines_epsilon_and_pooled_attack(sweep):
    private, plain = table_rows(sweep)
    assert private["seeds"] == 2 and private["devices"] == 3
    # median device epsilon per seed 3.0 and 3.0; every device finite
    assert private["epsilon_median"] == 3.0 and private["finite_epsilon_devices"] == 3
    # seed-averaged natural gain over majority: a (0.3 + 0.1) / 2, b (0.1 + 0.2) / 2, c 0 -> mean 0.35 / 3
    assert private["gain_natural_mean"] == pytest.approx(0.35 / 3)
    assert private["gain_natural_ci_low"] <= private["gain_natural_mean"] <= private["gain_natural_ci_high"]
    # per-seed natural means 0.4 / 3 and 0.3 / 3: their sample sd
    assert private["gain_natural_sd_seeds"] == pytest.approx((0.1 / 3) / math.sqrt(2))
    # under attack, over the global model on the same device; c is constant after personalizing: left out
    assert private["gain_adversarial_devices"] == 2 and private["gain_adversarial_mean"] == pytest.approx(0.1)
    assert private["mia_loss_threshold_pooled_auc_mean"] == pytest.approx(0.53)
    assert private["mia_reference_calibrated_pooled_auc_sd"] == pytest.approx(math.sqrt(0.0008))
    assert private["mia_loss_threshold_pooled_nonmembers"] == 120
    assert math.isinf(plain["epsilon_median"]) and plain["finite_epsilon_devices"] == 0 and plain["seeds"] == 1
    assert math.isnan(plain["gain_natural_sd_seeds"])  # one seed: no spread


def test_outputs_are_written(sweep, tmp_path):
    paths = write_outputs(sweep, tmp_path)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    table = (tmp_path / "table.md").read_text()
    assert "∞ (0/3 finite)" in table and "3.00" in table and "pooled MIA AUC" in table
    with open(tmp_path / "table.csv") as handle:
        assert [r["point"] for r in csv.DictReader(handle)] == ["sigma1-all", "nodp-all"]


def test_config_runs_every_device_with_three_federation_seeds():
    from fedrobust.pipeline import load_run_config

    config = load_run_config(Path(privacy_sweep.__file__).resolve().parents[1] / "configs" / "privacy_sweep.yaml")
    assert config.federated.max_clients is None and config.federated_seeds == [0, 1, 2]
