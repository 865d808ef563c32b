"""FedPer, FedBABU, LG-FedAvg and APFL: each one's defining property on one device and its on-device
DP accounting; a tiny federation with each of them and with Per-FedAvg, pFedMe, FedRoD and FedALA
(whose other tests are in test_pfl_algorithms_b.py). Cohort mode of APFL and FedALA:
test_federated_cohorts.py."""

import copy
import csv

import pytest
import torch

from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.algorithms.apfl import APFLParams, mix, personal_state, read_personal_state
from fedrobust.federated.algorithms.fedbabu import FedBABUParams
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.federated.parameter_groups import body_keys, head_keys
from fedrobust.federated.simulate import simulate
from fedrobust.privacy.accounting import dp_report, epsilon_for, history_epsilon
from fedrobust.privacy.dp_personalization import poisson_schedule
from tests.federated_helpers import client_data, make_federation, sim_config, tiny_student, tokenizer

SIGMA, DELTA = 1.0, 1e-4


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("pfl"), num_owners=4)  # 3 device clients


def _call(federation, state_dir, algorithm, model=None, server_round=1, partition=0, **overrides):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm=algorithm, **overrides)
    return ClientCall(config=config, partition_id=partition, data=client_data(data_dir, partition),
                      tokenizer=tokenizer(),
                      model=model if model is not None else tiny_student(), server_round=server_round,
                      state=ClientStateStore(state_dir, f"{partition:06d}"))


def _weights(model, keys):
    state = model.state_dict()
    return {k: state[k].detach().clone() for k in keys}


def _equal(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def _differ(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


def test_fedper_never_sends_the_head_and_each_device_keeps_its_own_across_rounds(federation, tmp_path):
    fedper = build_algorithm("fedper")
    model = tiny_student()
    heads, bodies = head_keys(model), body_keys(model)
    assert fedper.shared_keys(model) == bodies and not set(heads) & set(fedper.shared_keys(model))
    start_head, start_body = _weights(model, heads), _weights(model, bodies)
    call = _call(federation, tmp_path, "fedper", model=model, local={"lr": 5e-2})
    fedper.train(call)
    saved = call.state.load(before_round=2)
    assert set(saved) == set(heads) and _differ(saved, start_head)
    assert _differ(_weights(call.model, bodies), start_body), "FedPer trains body and head together"
    # round 2: another body (and a head that must be ignored) arrives; device 0 uses its own head
    received = tiny_student(seed=7)
    again = _call(federation, tmp_path, "fedper", model=copy.deepcopy(received), server_round=2, local={"epochs": 0})
    assert _equal(_weights(fedper.global_model(again), heads), saved)
    assert _equal(_weights(again.model, bodies), _weights(received, bodies))
    fresh = _call(federation, tmp_path, "fedper", model=copy.deepcopy(received), server_round=2, local={"epochs": 0})
    fedper.train(fresh)  # no epochs: the head it keeps is the one it had
    assert _equal(fresh.state.load(before_round=3), saved)
    # device 1 has no head of its own yet: it takes the received one, not device 0's
    other = _call(federation, tmp_path, "fedper", model=copy.deepcopy(received), server_round=2, partition=1)
    assert _equal(_weights(fedper.global_model(other), heads), _weights(received, heads))


def test_lg_fedavg_sends_only_the_head_and_each_device_keeps_its_own_body(federation, tmp_path):
    lg = build_algorithm("lg_fedavg")
    model = tiny_student()
    heads, bodies = head_keys(model), body_keys(model)
    floating_body = [k for k in bodies if model.state_dict()[k].is_floating_point()]
    assert lg.shared_keys(model) == heads
    start_body = _weights(model, floating_body)
    call = _call(federation, tmp_path, "lg_fedavg", model=model, local={"lr": 5e-2})
    lg.train(call)
    saved = call.state.load(before_round=2)
    assert set(saved) == set(floating_body) and _differ(saved, start_body)
    received = tiny_student(seed=7)
    again = _call(federation, tmp_path, "lg_fedavg", model=copy.deepcopy(received), server_round=2, local={"epochs": 0})
    global_model = lg.global_model(again)
    assert _equal(_weights(global_model, floating_body), saved)
    assert _equal(_weights(global_model, heads), _weights(received, heads)), "the shared head is the received one"
    fresh = _call(federation, tmp_path, "lg_fedavg", model=copy.deepcopy(received), server_round=2, local={"epochs": 0})
    lg.train(fresh)
    assert _equal(fresh.state.load(before_round=3), saved)
    other = _call(federation, tmp_path, "lg_fedavg", model=copy.deepcopy(received), server_round=2, partition=1)
    assert _equal(_weights(lg.global_model(other), floating_body), _weights(received, floating_body))


@pytest.mark.parametrize("random_head", [True, False])
def test_fedbabu_head_is_frozen_in_rounds_and_trained_only_at_personalization(federation, tmp_path, random_head):
    fedbabu = build_algorithm("fedbabu", FedBABUParams(random_head=random_head))
    model = tiny_student()
    heads, bodies = head_keys(model), body_keys(model)
    assert fedbabu.shared_keys(model) == bodies
    start_head, start_body = _weights(model, heads), _weights(model, bodies)
    # the head every device uses, seen on a device that has not trained
    frozen = _weights(fedbabu.global_model(_call(federation, tmp_path, "fedbabu", partition=2)), heads)
    assert _differ(frozen, start_head) == random_head
    for server_round in (1, 2):
        call = _call(federation, tmp_path, "fedbabu", model=model, server_round=server_round, local={"lr": 5e-2})
        fedbabu.train(call)
        model = call.model
        assert _equal(_weights(model, heads), frozen), f"round {server_round} moved the head"
    assert _differ(_weights(model, bodies), start_body)
    final = _call(federation, tmp_path, "fedbabu", model=model, server_round=3, personalize={"lr": 5e-2})
    assert _equal(_weights(fedbabu.global_model(final), heads), frozen)
    assert _differ(_weights(fedbabu.personalized_model(final), heads), frozen)


def _fitted(data, seed, labels):
    model = tiny_student(seed)
    train_locally(model, tokenizer(), data.train_texts, labels, TrainSettings(10, 5e-2, 8), seed=seed)
    return model


@pytest.fixture(scope="module")
def good_and_bad(federation):
    """A model fitted to device 0's labels, and one fitted to the wrong labels."""
    data = client_data(federation[0], 0)
    return _fitted(data, 1, data.train_labels), _fitted(data, 2, [(y + 1) % 3 for y in data.train_labels])


def _floating(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize("local_is_better", [True, False])
def test_apfl_alpha_moves_toward_the_better_model_and_personalizes_with_the_mix(federation, tmp_path, good_and_bad,
                                                                                local_is_better):
    good, bad = good_and_bad
    local, received = (good, bad) if local_is_better else (bad, good)
    apfl = build_algorithm("apfl", APFLParams(alpha_init=0.5, alpha_lr=0.01))
    store = ClientStateStore(tmp_path, "000000")
    store.save(0, personal_state(_floating(local), 0.5))
    call = _call(federation, tmp_path, "apfl", model=copy.deepcopy(received), local={"lr": 1e-3})
    apfl.train(call)
    personal, alpha = read_personal_state(store.load(before_round=2))
    assert alpha > 0.5 if local_is_better else alpha < 0.5
    assert _differ(personal, _floating(local)), "v trains through the mix"
    # the personalized model is alpha * v + (1 - alpha) * w with the final global model w
    final_global = tiny_student(seed=9)
    final = _call(federation, tmp_path, "apfl", model=copy.deepcopy(final_global), server_round=2,
                  personalize={"epochs": 0})
    expected = mix(alpha, personal, _floating(final_global))
    personalized = _floating(apfl.personalized_model(final))
    assert all(torch.allclose(personalized[k], expected[k], atol=1e-6) for k in expected)
    assert apfl.global_model(final) is final.model, "the global phase measures w"


def test_apfl_first_round_starts_from_the_global_model_and_alpha_init(federation, tmp_path):
    apfl = build_algorithm("apfl", APFLParams(alpha_init=0.3))
    received = tiny_student()
    call = _call(federation, tmp_path, "apfl", model=copy.deepcopy(received), personalize={"epochs": 0})
    personal, alpha, history = apfl.device_state(call, call.received_weights())
    assert alpha == 0.3 and history == () and _equal(personal, _floating(received))
    # v = w, so the mix is w itself: until v has moved away from w, alpha changes nothing
    mixed, start = _floating(apfl.personalized_model(call)), _floating(received)
    assert all(torch.allclose(mixed[k], start[k], atol=1e-6) for k in start)


@pytest.mark.parametrize("algorithm, epochs_per_round", [("fedper", 1), ("lg_fedavg", 1), ("apfl", 2)])
def test_on_device_training_is_dp_sgd_and_composed_with_the_final_fine_tune(federation, tmp_path, algorithm,
                                                                            epochs_per_round):
    """FedPer's head, LG-FedAvg's body, APFL's v and alpha stay on the device: under
    personalize.dp every round's training of them is DP-SGD in the device's accountant."""
    dp = {"noise_multiplier": SIGMA, "delta": DELTA}
    overrides = {"local": {"epochs": 1, "batch_size": 8}, "personalize": {"epochs": 2, "batch_size": 4, "dp": dp}}
    built = build_algorithm(algorithm)
    for server_round in (1, 2):
        built.train(_call(federation, tmp_path, algorithm, server_round=server_round, **overrides))
    n = client_data(federation[0], 0).n_train
    rate, steps = poisson_schedule(n, 8, 2 * epochs_per_round)  # two rounds at local.batch_size
    history = ClientStateStore(tmp_path, "000000").load_dp_history(before_round=3)
    assert history == ((SIGMA, rate, steps),), "no step without noise, none left out"
    personalized = built.personalized_model(_call(federation, tmp_path, algorithm, server_round=3, **overrides))
    final = poisson_schedule(n, 4, 2)
    expected = history_epsilon(((SIGMA, rate, steps), (SIGMA, *final)), DELTA)
    assert dp_report(personalized).epsilon == pytest.approx(expected, rel=1e-9)
    assert expected > epsilon_for(SIGMA, *final, DELTA) * 1.05


def test_fedper_meets_a_target_epsilon_over_all_its_local_epochs(federation, tmp_path):
    """The noise for a target is planned over rounds x local.epochs of head training, then the fine-tune."""
    dp = {"target_epsilon": 8.0, "delta": DELTA}
    overrides = {"rounds": 2, "local": {"epochs": 2, "batch_size": 8},
                 "personalize": {"epochs": 1, "batch_size": 8, "dp": dp}}
    fedper = build_algorithm("fedper")
    for server_round in (1, 2):
        fedper.train(_call(federation, tmp_path, "fedper", server_round=server_round, **overrides))
    personalized = fedper.personalized_model(_call(federation, tmp_path, "fedper", server_round=3, **overrides))
    assert 7.9 <= dp_report(personalized).epsilon <= 8.0


def _rows(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # a simulation each, 50-60 s on a loaded 2-core machine
@pytest.mark.parametrize("algorithm", ["fedper", "fedbabu", "lg_fedavg", "apfl", "per_fedavg", "pfedme", "fedrod",
                                       "fedala"])
def test_a_tiny_federation_runs_end_to_end(federation, tmp_path, algorithm):
    data_dir, model_dir = federation
    summary = simulate(sim_config(data_dir, model_dir, algorithm=algorithm, rounds=2, fraction_train=1.0), tmp_path)
    rows = _rows(tmp_path / "clients.csv")
    assert summary["clients_evaluated"] == summary["clients"] == 3 and not summary["failures"]["count"]
    assert sorted((r["partition_id"], r["phase"]) for r in rows) == sorted(
        (str(d), phase) for d in range(3) for phase in ("global", "personalized"))
    assert all(r["algorithm"] == algorithm for r in rows)
    stateful = algorithm in ("fedper", "lg_fedavg", "apfl", "fedrod", "fedala")  # state kept on the device
    assert (tmp_path / "client_state").is_dir() == stateful



def test_configs_name_the_new_algorithms_through_the_registry():
    from fedrobust.errors import ConfigError
    from fedrobust.federated.config import config_from_mapping, section_from_mapping

    entries = ["fedper", {"fedbabu": {"random_head": False}}, "lg_fedavg", {"apfl": {"alpha_init": 0.25}}]
    assert section_from_mapping({"algorithms": entries}).algorithms == entries
    with pytest.raises(ConfigError, match=r"algorithm\.apfl\.alpha_init must be in \(0, 1\]"):
        config_from_mapping({"data": "d", "model": "m", "algorithm": {"apfl": {"alpha_init": 0.0}}})
    # FedPer's head is trained on the device every round: DP on every step rules out adversarial rounds
    with pytest.raises(ConfigError, match=r"all_steps and local\.adversarial"):
        config_from_mapping({"data": "d", "model": "m", "algorithm": "fedper", "local": {"adversarial": True},
                             "personalize": {"dp": {"noise_multiplier": 1.0}}})
