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
from fedrobust.federated.membership_pool import pooled_summary, take_scores
from fedrobust.federated.results import CLIENT_COLUMNS, MIA_ATTACKS, client_rows, summarize_clients
from fedrobust.federated.worker_cache import initial_model, tokenizer_for
from fedrobust.privacy.membership import (
    MEMBERSHIP_ATTACKS,
    MembershipTarget,
    min_fpr,
    pooled_membership,
    roc_auc,
    tpr_at_fpr,
    tpr_at_min_fpr,
)
from tests.federated_helpers import client_data, make_federation, sim_config, tiny_student, tokenizer
from tests.test_privacy_dp import _random_texts

T = torch.tensor


def test_auc_and_low_fpr_tpr():
    assert roc_auc(T([3.0, 4.0]), T([1.0, 2.0])) == 1.0
    assert roc_auc(T([1.0, 2.0]), T([3.0, 4.0])) == 0.0
    assert roc_auc(T([1.0, 1.0]), T([1.0, 1.0])) == 0.5  # ties count one half
    assert roc_auc(T([1.0, 3.0]), T([2.0])) == 0.5
    assert roc_auc([1.0, 2.0, 2.0, 5.0], [2.0, 0.0, 3.0]) == pytest.approx((1 + 1.5 + 1.5 + 3) / 12)  # ties count one half
    # 200 non-members: 1% allows two false positives, the threshold is the third highest
    many = torch.arange(200, dtype=torch.float)
    assert tpr_at_fpr(T([197.5, 196.5, 198.5]), many, 0.01) == pytest.approx(2 / 3)
    assert math.isnan(roc_auc(T([]), T([1.0])))


def test_tpr_at_min_fpr_flags_one_nonmember_of_n():
    nonmembers = torch.arange(10.0)  # 10 non-members: the lowest non-zero FPR is 1/10
    members = T([9.5, 5.0, 20.0, 8.5, 8.0])
    assert min_fpr(10) == pytest.approx(0.1)
    # one false positive allowed (9): the threshold is the second highest non-member, 8
    assert tpr_at_min_fpr(members, nonmembers) == pytest.approx(3 / 5)
    assert ((nonmembers > 8).float().mean()) == pytest.approx(min_fpr(10))
    # 1% FPR cannot be resolved with 10 non-members: no number rather than a TPR at FPR 0
    assert math.isnan(tpr_at_fpr(members, nonmembers, 0.01))
    assert tpr_at_min_fpr(T([0.5]), T([1.0])) == 1.0  # one non-member: FPR 1/1 flags everything


def test_pooled_attack_thresholds_all_devices_at_once():
    def device(members, nonmembers):
        return {"mia-scores/personalized/loss_threshold/members": members,
                "mia-scores/personalized/loss_threshold/nonmembers": nonmembers, "personalized/natural_acc": 0.5}

    a, b = device([5.0, 6.0], [1.0, 2.0]), device([1.5, 4.0], [0.0, 7.0])
    rows = take_scores(a, "a", 0) + take_scores(b, "b", 1)
    assert a == b == {"personalized/natural_acc": 0.5}  # the scores leave the device's metrics
    assert len(rows) == 8 and sum(r["member"] for r in rows) == 4
    pooled = pooled_summary(rows)["personalized"]["loss_threshold"]
    # per device the AUCs are 1.0 and 0.5 (mean 0.75); one threshold over both: 11 of 16 pairs
    assert pooled["auc"] == pytest.approx(11 / 16)
    assert (pooled["devices"], pooled["n_members"], pooled["n_nonmembers"]) == (2, 4, 4)
    assert math.isnan(pooled["tpr_at_1pct_fpr"]) and "tpr_at_0.1pct_fpr" not in pooled  # 4 non-members
    assert pooled_membership([198.5, 197.5, 150.0], list(range(200)), 1)["tpr_at_1pct_fpr"] == pytest.approx(2 / 3)
    thousand = pooled_membership([998.5, 999.5, 990.0], list(range(1000)), 1)
    assert thousand["tpr_at_0.1pct_fpr"] == pytest.approx(2 / 3)  # one false positive of 1000 allowed
    assert thousand["tpr_at_1pct_fpr"] == pytest.approx(1.0)


def test_every_registered_attack_has_clients_csv_columns():
    assert set(MEMBERSHIP_ATTACKS.names()) == set(MIA_ATTACKS)
    for name in MIA_ATTACKS:
        assert f"mia_{name}_auc" in CLIENT_COLUMNS and f"mia_{name}_tpr_at_min_fpr" in CLIENT_COLUMNS
    assert {"device_epsilon", "mia_n_members", "mia_n_nonmembers", "mia_min_fpr"} <= set(CLIENT_COLUMNS)


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
                      model=initial_model(str(model_dir), config.init, 0), server_round=1,
                      state=ClientStateStore(str(tmp_path), "000000"))
    metrics = personalize_and_measure(algorithm, call)
    assert 0 < metrics["personalized/dp_epsilon"] < math.inf and math.isnan(metrics["global/dp_epsilon"])
    assert metrics["global/rounds_epsilon"] == 0.0  # no rounds: the global model never saw device data
    assert metrics["global/device_epsilon"] == 0.0
    assert metrics["personalized/device_epsilon"] == metrics["personalized/dp_epsilon"]
    assert metrics["personalized/device_delta"] == 1e-4
    n_nonmembers = metrics["personalized/mia_n_nonmembers"]
    assert metrics["personalized/mia_min_fpr"] == pytest.approx(1 / n_nonmembers)
    assert len(metrics["mia-scores/personalized/reference_calibrated/nonmembers"]) == n_nonmembers
    assert len(metrics["mia-scores/global/loss_threshold/members"]) == metrics["global/mia_n_members"]
    for attack in ("loss_threshold", "reference_calibrated"):
        assert 0.0 <= metrics[f"personalized/mia_{attack}_auc"] <= 1.0
    assert math.isfinite(metrics["global/mia_loss_threshold_auc"])
    assert "global/mia_reference_calibrated_auc" not in metrics  # references imitate personalization only
    rows = client_rows("fedavg_ft", 0, call.data.client_id, metrics)
    assert set(CLIENT_COLUMNS) <= set(rows[0]) and math.isnan(rows[0]["mia_reference_calibrated_auc"])
    summary = summarize_clients(rows)
    assert summary["privacy"]["personalized"]["dp_epsilon"]["clients"] == 1
    assert summary["privacy"]["personalized"]["mia_loss_threshold_auc"]["clients"] == 1
    assert summary["privacy"]["personalized"]["mia_examples"]["nonmembers"] == n_nonmembers


def test_without_privacy_settings_only_the_epsilons_are_reported(federation, tmp_path):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="fedavg", rounds=2, evaluate={"examples": 0})
    algorithm = build_algorithm("fedavg")
    call = ClientCall(config=config, partition_id=1, data=client_data(data_dir, 1), tokenizer=tokenizer_for(str(model_dir)),
                      model=initial_model(str(model_dir), config.init, 0), server_round=3,
                      state=ClientStateStore(str(tmp_path), "000001"))
    metrics = personalize_and_measure(algorithm, call)
    assert metrics["global/rounds_epsilon"] == math.inf  # rounds without DP: no guarantee
    assert metrics["global/device_epsilon"] == metrics["personalized/device_epsilon"] == math.inf
    assert math.isnan(metrics["personalized/dp_epsilon"])  # fedavg does not personalize
    assert not any("mia_" in key for key in metrics)
    summary = summarize_clients(client_rows("fedavg", 1, call.data.client_id, metrics))
    assert summary["privacy"]["global"]["rounds_epsilon"] == {"clients": 0, "clients_without_guarantee": 1}
