"""Privacy that covers every step on a device's data: Ditto's personal model and FedRep's head are
trained on the device every round, so under personalize.dp (scope all_steps) those trainings are
DP-SGD and one accountant per device composes them with the final fine-tune; with scope
final_only the device's epsilon is infinite, and a finite target is refused up front."""

import math

import pytest
from opacus.accountants import RDPAccountant

from fedrobust.data import FederatedDataset
from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.config import section_from_mapping
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.privacy.accounting import epsilon_for, federation_epsilon
from fedrobust.privacy.dp_personalization import poisson_schedule
from tests.federated_helpers import client_data, make_federation, sim_config, tiny_student, tokenizer

SIGMA, DELTA = 1.0, 1e-4


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("fed"), num_owners=4)


def _config(federation, algorithm, dp, rounds=2, **overrides):
    data_dir, model_dir = federation
    return sim_config(data_dir, model_dir, algorithm=algorithm, rounds=rounds, evaluate={"examples": 0},
                      local={"epochs": 1, "batch_size": 8}, personalize={"epochs": 2, "batch_size": 4, "dp": dp},
                      **overrides)


def _call(federation, config, state_dir, server_round):
    return ClientCall(config=config, partition_id=0, data=client_data(federation[0], 0), tokenizer=tokenizer(),
                      model=tiny_student(), server_round=server_round, state=ClientStateStore(state_dir, "000000"))


def _run_device(federation, config, state_dir, rounds_taken):
    """The device takes part in rounds 1..rounds_taken, then personalizes and is measured."""
    algorithm = build_algorithm(config.algorithm_name, config.algorithm_params)
    for server_round in range(1, rounds_taken + 1):
        algorithm.train(_call(federation, config, state_dir, server_round))
    return personalize_and_measure(algorithm, _call(federation, config, state_dir, rounds_taken + 1))


def _accountant_epsilon(parts) -> float:
    """Opacus's RDP accountant stepped by hand through (sample rate, steps) parts at SIGMA."""
    accountant = RDPAccountant()
    for rate, steps in parts:
        for _ in range(steps):
            accountant.step(noise_multiplier=SIGMA, sample_rate=rate)
    return accountant.get_epsilon(delta=DELTA)


@pytest.mark.parametrize("algorithm, round_epochs", [("ditto", {"personal_epochs": 1}), ("fedrep", {"head_epochs": 1})])
def test_dp_on_every_step_composes_the_round_training_with_the_final_fine_tune(federation, tmp_path, algorithm, round_epochs):
    config = _config(federation, {algorithm: round_epochs}, {"noise_multiplier": SIGMA, "delta": DELTA})
    metrics = _run_device(federation, config, tmp_path, rounds_taken=2)
    n = client_data(federation[0], 0).n_train
    rounds_part = poisson_schedule(n, 8, 2)  # two rounds of one epoch at local.batch_size
    final_part = poisson_schedule(n, 4, 2)  # the final fine-tune: personalize.epochs at its batch size
    final_alone = epsilon_for(SIGMA, *final_part, DELTA)
    personalized = metrics["personalized/dp_epsilon"]
    assert personalized > final_alone * 1.05, "the rounds' DP-SGD steps must be counted"
    assert personalized == pytest.approx(_accountant_epsilon([rounds_part, final_part]), rel=1e-6)
    # rounds = 2 without round DP: the global model saw the device's data without a guarantee
    assert metrics["personalized/device_epsilon"] == math.inf
    history = ClientStateStore(tmp_path, "000000").load_dp_history(before_round=3)
    assert history == ((SIGMA, rounds_part[0], rounds_part[1]),)
    if algorithm == "fedrep":  # the global phase's model holds the device's DP-trained head
        assert metrics["global/dp_epsilon"] == pytest.approx(_accountant_epsilon([rounds_part]), rel=1e-6)


def test_round_dp_and_dp_sgd_add_up_to_the_device_epsilon(federation, tmp_path):
    rounds_dp = {"mode": "server_fixed", "noise_multiplier": 1.5, "delta": 1e-5}
    config = _config(federation, "ditto", {"noise_multiplier": SIGMA, "delta": DELTA}, rounds=2,
                     fraction_train=1.0, privacy={"rounds": rounds_dp})
    metrics = _run_device(federation, config, tmp_path, rounds_taken=2)
    devices = len(FederatedDataset.load(federation[0]))
    rounds_eps = federation_epsilon(config.privacy.rounds, devices, 2, 1.0, config.min_train_clients)
    assert 0 < rounds_eps < math.inf and metrics["personalized/rounds_epsilon"] == pytest.approx(rounds_eps)
    assert metrics["personalized/device_epsilon"] == pytest.approx(rounds_eps + metrics["personalized/dp_epsilon"])
    assert metrics["personalized/device_delta"] == pytest.approx(1e-5 + DELTA)
    assert metrics["global/device_epsilon"] == pytest.approx(rounds_eps)  # Ditto's global model: the rounds only


def test_a_target_epsilon_is_met_over_every_step(federation, tmp_path):
    config = _config(federation, "ditto", {"target_epsilon": 4.0, "delta": DELTA})
    metrics = _run_device(federation, config, tmp_path, rounds_taken=2)  # sampled in every round: the planned worst case
    assert 3.9 <= metrics["personalized/dp_epsilon"] <= 4.0


def test_final_only_scope_reports_an_infinite_epsilon_for_ditto(federation, tmp_path):
    dp = {"noise_multiplier": SIGMA, "delta": DELTA, "scope": "final_only"}
    metrics = _run_device(federation, _config(federation, "ditto", dp), tmp_path, rounds_taken=1)
    assert metrics["personalized/dp_epsilon"] == metrics["personalized/device_epsilon"] == math.inf
    # the same scope is fine where the final fine-tune is the only on-device training
    tuned = _run_device(federation, _config(federation, "fedavg_ft", dp, rounds=0), tmp_path / "ft", rounds_taken=0)
    assert 0 < tuned["personalized/device_epsilon"] == tuned["personalized/dp_epsilon"] < math.inf


def test_final_only_scope_with_a_target_epsilon_is_refused_naming_the_keys(federation):
    with pytest.raises(ConfigError, match=r"personalize\.dp\.scope: final_only and personalize\.dp\.target_epsilon.*ditto"):
        _config(federation, "ditto", {"target_epsilon": 3.0, "scope": "final_only"})
    with pytest.raises(ConfigError, match=r"federated\.personalize\.dp\.scope.*federated\.algorithms\[1\] \(fedrep\)"):
        section_from_mapping({"algorithms": ["fedavg_ft", "fedrep"], "rounds": 2,
                              "personalize": {"dp": {"target_epsilon": 3.0, "scope": "final_only"}}})
    # nothing trains on the device before the final fine-tune: a target can be met
    _config(federation, "fedavg_ft", {"target_epsilon": 3.0, "scope": "final_only"})
    _config(federation, "ditto", {"target_epsilon": 3.0, "scope": "final_only"}, rounds=0)


@pytest.mark.parametrize("change, message", [
    ({"personalize": {"dp": {"noise_multiplier": 1.0, "scope": "rounds"}}}, "personalize.dp.scope must be one of"),
    ({"local": {"adversarial": True}, "personalize": {"dp": {"noise_multiplier": 1.0}}}, "local.adversarial"),
    ({"personalize": {"dp": {"noise_multiplier": 1.0, "accountant": "gdp"}}}, "gdp"),
])
def test_all_steps_settings_that_cannot_work_are_refused(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        sim_config(tmp_path, tmp_path, algorithm="ditto", **change)
