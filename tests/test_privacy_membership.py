"""Membership inference: the metrics, the calibrated attack, and the per-device privacy metrics
that reach clients.csv."""

import copy
import math

import pytest
import torch

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.federated.results import CLIENT_COLUMNS, MIA_ATTACKS, client_rows, summarize_clients
from fedrobust.federated.worker_cache import initial_model, tokenizer_for
from fedrobust.privacy.membership import MEMBERSHIP_ATTACKS, MembershipTarget, roc_auc, tpr_at_fpr
from tests.federated_helpers import client_data, make_federation, sim_config, tiny_student, tokenizer
from tests.test_privacy_dp import _random_texts

T = torch.tensor


def test_auc_and_low_fpr_tpr():
    assert roc_auc(T([3.0, 4.0]), T([1.0, 2.0])) == 1.0
    assert roc_auc(T([1.0, 2.0]), T([3.0, 4.0])) == 0.0
    assert roc_auc(T([1.0, 1.0]), T([1.0, 1.0])) == 0.5  # ties count one half
    assert roc_auc(T([1.0, 3.0]), T([2.0])) == 0.5
    # 10 non-members: 1% FPR allows none, so members must beat the best non-member (0.9)
    nonmembers = torch.linspace(0.0, 0.9, 10)
    assert tpr_at_fpr(T([0.95, 0.5, 2.0, 0.9]), nonmembers, 0.01) == 0.5
    # 200 non-members: 1% allows two false positives, the threshold is the third highest
    many = torch.arange(200, dtype=torch.float)
    assert tpr_at_fpr(T([197.5, 196.5, 198.5]), many, 0.01) == pytest.approx(2 / 3)
    assert math.isnan(roc_auc(T([]), T([1.0])))


def test_every_registered_attack_has_clients_csv_columns():
    assert set(MEMBERSHIP_ATTACKS.names()) == set(MIA_ATTACKS)
    for name in MIA_ATTACKS:
        assert f"mia_{name}_auc" in CLIENT_COLUMNS and f"mia_{name}_tpr_at_1pct_fpr" in CLIENT_COLUMNS


def _fit(model, texts, labels, epochs=40):
    train_locally(model, tokenizer(), texts, labels, TrainSettings(epochs=epochs, lr=2e-2, batch_size=16), seed=0)
    return model


def test_calibrated_attack_detects_memorization_and_needs_references():
    members, nonmembers = _random_texts(48, seed=11), _random_texts(48, seed=12)
    start = tiny_student(seed=2, num_labels=2)
    target_model = _fit(copy.deepcopy(start), *members)
    references = [_fit(copy.deepcopy(start), *_random_texts(48, seed=20 + k)) for k in range(2)]
    attack = MEMBERSHIP_ATTACKS.get("reference_calibrated")
    target = MembershipTarget(target_model, tokenizer(), *members, *nonmembers, reference_models=references)
    assert roc_auc(*target.split(attack.scores(target))) > 0.75
    # the untrained start model knows nothing about the members
    blind = MembershipTarget(start, tokenizer(), *members, *nonmembers, reference_models=references)
    assert abs(roc_auc(*blind.split(attack.scores(blind))) - 0.5) < 0.15
    with pytest.raises(ConfigError, match="reference_models"):
        attack.scores(MembershipTarget(target_model, tokenizer(), *members, *nonmembers))


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("fed"), num_owners=4)


def test_device_metrics_carry_epsilon_and_membership_inference_to_the_tables(federation, tmp_path):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="fedavg_ft", rounds=0,
                        personalize={"epochs": 2, "dp": {"noise_multiplier": 1.0, "delta": 1e-4}},
                        privacy={"membership": {"attacks": ["loss_threshold", "reference_calibrated"], "reference_models": 1}})
    algorithm = build_algorithm("fedavg_ft")
    call = ClientCall(config=config, partition_id=0, data=client_data(data_dir, 0), tokenizer=tokenizer_for(str(model_dir)),
                      model=initial_model(str(model_dir), algorithm.starts_from, 0), server_round=1,
                      state=ClientStateStore(str(tmp_path), "000000"))
    metrics = personalize_and_measure(algorithm, call)
    assert 0 < metrics["personalized/dp_epsilon"] < math.inf and math.isnan(metrics["global/dp_epsilon"])
    assert metrics["global/rounds_epsilon"] == 0.0  # no rounds: the global model never saw device data
    for attack in ("loss_threshold", "reference_calibrated"):
        assert 0.0 <= metrics[f"personalized/mia_{attack}_auc"] <= 1.0
    assert math.isfinite(metrics["global/mia_loss_threshold_auc"])
    assert "global/mia_reference_calibrated_auc" not in metrics  # references imitate personalization only
    rows = client_rows("fedavg_ft", 0, call.data.client_id, metrics)
    assert set(CLIENT_COLUMNS) <= set(rows[0]) and math.isnan(rows[0]["mia_reference_calibrated_auc"])
    summary = summarize_clients(rows)
    assert summary["privacy"]["personalized"]["dp_epsilon"]["clients"] == 1
    assert summary["privacy"]["personalized"]["mia_loss_threshold_auc"]["clients"] == 1


def test_without_privacy_settings_only_the_epsilons_are_reported(federation, tmp_path):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="fedavg", rounds=2, evaluate={"examples": 0})
    algorithm = build_algorithm("fedavg")
    call = ClientCall(config=config, partition_id=1, data=client_data(data_dir, 1), tokenizer=tokenizer_for(str(model_dir)),
                      model=initial_model(str(model_dir), algorithm.starts_from, 0), server_round=3,
                      state=ClientStateStore(str(tmp_path), "000001"))
    metrics = personalize_and_measure(algorithm, call)
    assert metrics["global/rounds_epsilon"] == math.inf  # rounds without DP: no guarantee
    assert math.isnan(metrics["personalized/dp_epsilon"])  # fedavg does not personalize
    assert not any("mia_" in key for key in metrics)
    summary = summarize_clients(client_rows("fedavg", 1, call.data.client_id, metrics))
    assert summary["privacy"]["global"]["rounds_epsilon"] == {"clients": 0, "clients_without_guarantee": 1}
