"""Algorithm behaviour on one device, without the simulation engine."""

import copy
import re

import pytest
import torch

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.algorithms.ditto import DittoParams
from fedrobust.federated.algorithms.fedprox import FedProxParams
from fedrobust.federated.config import config_from_mapping, section_from_mapping, simulation_config_for
from fedrobust.federated.algorithms.proximal import proximal_pull, proximal_term
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.federated.parameter_groups import add_adapters, body_keys, head_keys, trainable_parameters
from tests.federated_helpers import client_data, make_federation, sim_config, tiny_student, tokenizer

SETTINGS = TrainSettings(epochs=3, lr=5e-2, batch_size=8)


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("fed"), num_owners=4)


def _distance(model, reference):
    return float(proximal_term(model, reference).detach().sqrt())


def _train(model, data, **kwargs):
    return train_locally(model, tokenizer(), data.train_texts, data.train_labels, SETTINGS, seed=1, **kwargs)


def test_fedprox_term_is_zero_at_mu_zero_and_pulls_toward_the_global_model_otherwise(federation):
    data = client_data(federation[0])
    start = tiny_student()
    reference = {k: v.detach().clone() for k, v in start.state_dict().items()}
    assert float(proximal_term(start, reference).detach()) == 0.0
    plain, mu_zero, mu_big = copy.deepcopy(start), copy.deepcopy(start), copy.deepcopy(start)
    _train(plain, data)
    _train(mu_zero, data, penalty=proximal_pull(reference, 0.0))
    _train(mu_big, data, penalty=proximal_pull(reference, 10.0))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), mu_zero.state_dict().values()))
    assert _distance(mu_big, reference) < 0.5 * _distance(plain, reference)


def _call(federation, tmp_path, algorithm, model=None, server_round=1, partition=0, **overrides):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm=algorithm, **overrides)
    return ClientCall(config=config, partition_id=partition, data=client_data(data_dir, partition), tokenizer=tokenizer(),
                      model=model or tiny_student(), server_round=server_round,
                      state=ClientStateStore(tmp_path, f"{partition:06d}"))


def test_ditto_personal_model_differs_from_the_global_one(federation, tmp_path):
    call = _call(federation, tmp_path, "ditto", local={"lr": 5e-2})
    ditto = build_algorithm("ditto")
    ditto.train(call)
    personal = call.state.load(before_round=2)
    assert personal is not None
    global_state = call.model.state_dict()
    assert any(not torch.equal(personal[k], global_state[k]) for k in global_state)
    personalized = ditto.personalized_model(_call(federation, tmp_path, "ditto", server_round=2))
    assert any(not torch.equal(personalized.state_dict()[k], global_state[k]) for k in global_state)


def test_fedrep_shares_the_body_and_keeps_heads_on_the_device(federation, tmp_path):
    fedrep = build_algorithm("fedrep")
    model = tiny_student()
    shared = fedrep.shared_keys(model)
    assert shared == body_keys(model) and not set(shared) & set(head_keys(model))
    initial_head = {k: v.clone() for k, v in model.state_dict().items() if k in head_keys(model)}
    call = _call(federation, tmp_path, "fedrep", model=model, local={"lr": 5e-2})
    fedrep.train(call)
    saved_head = call.state.load(before_round=2)
    assert set(saved_head) == set(head_keys(model))
    assert any(not torch.equal(saved_head[k], initial_head[k]) for k in saved_head)
    # another device's head is its own: a fresh call for partition 1 starts from the initial head
    other = _call(federation, tmp_path, "fedrep", model=tiny_student(), server_round=2, partition=1)
    other_model = fedrep.global_model(other)
    assert all(torch.equal(other_model.state_dict()[k], initial_head[k]) for k in initial_head)


def test_client_state_reads_only_rounds_before_the_current_one(tmp_path):
    store = ClientStateStore(tmp_path, "c")
    store.save(1, {"w": torch.ones(2)})
    store.save(2, {"w": torch.full((2,), 2.0)})
    assert store.load(before_round=1) is None
    assert float(store.load(before_round=2)["w"][0]) == 1.0
    assert float(store.load(before_round=3)["w"][0]) == 2.0


def test_head_only_training_changes_only_the_head(federation):
    data = client_data(federation[0])
    model = tiny_student()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train(model, data, parameters=trainable_parameters(model, "head"))
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and changed <= set(head_keys(model))


def test_adapters_start_as_the_identity(federation):
    model = tiny_student().eval()  # no dropout: the two passes must be comparable
    batch = tokenizer()(client_data(federation[0]).test_texts)
    before = model(batch["input_ids"], batch["attention_mask"])
    params = add_adapters(model, bottleneck=4)
    assert torch.allclose(before, model(batch["input_ids"], batch["attention_mask"]))
    assert len(params) == 6  # adapter down/up weight+bias, head weight+bias


def test_fedavg_does_not_personalize_and_fedavg_ft_does(federation, tmp_path):
    assert build_algorithm("fedavg").personalized_model(_call(federation, tmp_path, "fedavg")) is None
    call = _call(federation, tmp_path, "fedavg_ft", personalize={"lr": 5e-2})
    tuned = build_algorithm("fedavg_ft").personalized_model(call)
    assert any(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), call.model.state_dict().values()))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"algorithm": "fedsgd"}, "config key algorithm: unknown federated algorithm 'fedsgd'"),
        ({"rounds": -1}, "rounds must be >= 0"),
        ({"fraction_train": 0.0}, "fraction_train"),
        ({"personalize": {"params": "some"}}, "personalize.params must be one of all, head, adapters"),
        ({"local": {"epohcs": 2}}, "unknown config key local.epohcs"),
        ({"evaluate": {"attacks": ["nope"]}}, r"evaluate.attacks\[0\].attack: unknown attack 'nope'"),
        ({"evaluate": {"examples": -1}}, "evaluate.examples must be >= 0"),
        ({"simulation": {"inject_failure_fraction": 1.5}}, "inject_failure_fraction"),
    ],
)
def test_config_errors_name_the_key(change, message):
    mapping = {"data": "d", "model": "m", **change}
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(mapping)


def test_integer_buffers_are_never_averaged():
    """FedAvg over a pruned vocabulary's int id map would round it wrongly; only floats travel."""
    from flwr.app import MetricRecord, RecordDict
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    from fedrobust.federated.transport import load_arrays, to_arrays

    model = tiny_student()
    model.register_buffer("id_map", torch.arange(30522, dtype=torch.int32) % 7)
    arrays = to_arrays(model)
    assert "id_map" not in arrays and set(arrays) == {k for k, v in model.state_dict().items() if v.is_floating_point()}
    replies = [RecordDict({"arrays": to_arrays(model), "metrics": MetricRecord({"num-examples": n})}) for n in (3, 7)]
    restored = tiny_student(seed=5)
    restored.register_buffer("id_map", torch.arange(30522, dtype=torch.int32) % 7)
    load_arrays(restored, aggregate_arrayrecords(replies, "num-examples"))
    for key, value in model.state_dict().items():
        assert torch.allclose(restored.state_dict()[key].float(), value.float()), key


def test_fresh_baseline_model_keeps_the_students_vocabulary_but_not_its_weights(tmp_path):
    """From-scratch baselines use the student's architecture and tokenization with new weights."""
    from fedrobust.federated.worker_cache import initial_model
    from fedrobust.models.io import save_model

    import fedrobust.models.students  # noqa: F401
    from fedrobust.models.registry import build_student

    student = build_student("bigru_attention", num_labels=3, vocab_size=tokenizer().vocab_size, hidden=8,
                            embedding={"kind": "pruned", "dim": 8, "num_embeddings": 64})
    student.embedding.set_vocabulary(list(range(1000, 1040)), pad_id=tokenizer().pad_token_id)
    save_model(student, tokenizer(), tmp_path / "student")
    fresh = initial_model(str(tmp_path / "student"), "fresh", seed=0)
    distilled = initial_model(str(tmp_path / "student"), "student", seed=0)
    id_map = student.state_dict()["embedding.id_map"]
    assert id_map.unique().numel() > 2  # a real vocabulary, not everything -> [UNK]
    assert torch.equal(fresh.state_dict()["embedding.id_map"], id_map)
    floats = [k for k, v in student.state_dict().items() if v.is_floating_point()]
    assert any(not torch.equal(fresh.state_dict()[k], student.state_dict()[k]) for k in floats)
    assert all(torch.equal(distilled.state_dict()[k], student.state_dict()[k]) for k in floats)


@pytest.mark.parametrize("name", ["simulate_flwr.yaml", "federated_benchmark.yaml"])
def test_shipped_simulation_configs_are_valid(name):
    from pathlib import Path

    from fedrobust.config_schema import read_yaml_mapping

    config = config_from_mapping(read_yaml_mapping(Path(__file__).parent.parent / "configs" / name))
    assert config.rounds >= 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ditto": {"lam": 0.2}}, "config key ditto moved: write algorithm: {ditto: {lam: 0.2}}"),
        ({"fedrep": {"head_epochs": 3}}, "config key fedrep moved: write algorithm: {fedrep: {head_epochs: 3}}"),
        ({"ditto": None}, "config key ditto moved: write algorithm: {ditto: {lam: 0.1, personal_epochs: 1}}"),
        ({"local": {"proximal_mu": 0.01}}, "config key local.proximal_mu moved: write algorithm: {fedprox: {mu: 0.01}}"),
        ({"evaluate": {"adversarial_examples": 5}}, "config key evaluate.adversarial_examples is now evaluate.examples"),
    ],
)
def test_old_simulate_keys_fail_naming_the_new_form(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_mapping({"data": "d", "model": "m", **change})


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ditto": {"lam": 0.1}}, "config key federated.ditto moved: write federated.algorithms: [..., {ditto: {lam: 0.1}}]"),
        ({"fedrep": {"head_epochs": 2}}, "config key federated.fedrep moved: write federated.algorithms: [..., {fedrep: {head_epochs: 2}}]"),
        ({"local": {"proximal_mu": 0.01}},
         "config key federated.local.proximal_mu moved: write federated.algorithms: [..., {fedprox: {mu: 0.01}}]"),
        ({"evaluate": {"adversarial_examples": 3}}, "config key federated.evaluate.adversarial_examples is now federated.evaluate.examples"),
    ],
)
def test_old_run_config_keys_fail_naming_the_new_form(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        section_from_mapping({"algorithms": ["fedavg"], **change})


@pytest.mark.parametrize(
    "algorithm, message",
    [
        ({"fedprox": {"mu": "high"}}, "config key algorithm.fedprox.mu must be float"),
        ({"fedprox": {"mu": -1.0}}, "config key algorithm.fedprox.mu must be >= 0"),
        ({"ditto": {"lamda": 0.1}}, "unknown config key algorithm.ditto.lamda; allowed here: lam, personal_epochs"),
        ({"fedrep": {"head_epochs": 1.5}}, "config key algorithm.fedrep.head_epochs must be int"),
        ({"fedavg": {"lr": 0.1}}, "unknown config key algorithm.fedavg.lr"),
        ({"ditto": {}, "fedrep": {}}, "config key algorithm must be an algorithm name or a one-key mapping"),
        (["ditto"], "config key algorithm must be an algorithm name or a one-key mapping"),
        ({"dito": {"lam": 0.1}}, "config key algorithm: unknown federated algorithm 'dito'"),
    ],
)
def test_algorithm_settings_are_checked_against_the_algorithms_params(algorithm, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_mapping({"data": "d", "model": "m", "algorithm": algorithm})


@pytest.mark.parametrize(
    "section, message",
    [
        ({"algorithms": ["fedavg_ft", {"ditto": {"lam": 0.1}}, {"fedprox": {"mu": "x"}}]},
         "config key federated.algorithms[2].fedprox.mu must be float"),
        ({"algorithms": ["fedavg", {"fedavgg": {}}]}, "config key federated.algorithms[1]: unknown federated algorithm 'fedavgg'"),
        ({"algorithms": ["ditto", {"ditto": {"lam": 0.2}}]}, "config key federated.algorithms lists ditto twice"),
        ({"algorithms": "fedavg"}, "config key federated.algorithms must be a list"),
        ({"rounds": -1}, "config key federated.rounds must be >= 0"),
        ({"personalize": {"dp": {"max_grad_norm": 0}}}, "config key federated.personalize.dp.max_grad_norm must be > 0"),
        ({"privacy": {"rounds": {"mode": "magic"}}}, "config key federated.privacy.rounds.mode must be one of"),
    ],
)
def test_run_config_section_errors_name_the_key_under_federated(section, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        section_from_mapping(section)


def test_algorithms_get_their_settings_and_the_defaults():
    config = config_from_mapping({"data": "d", "model": "m", "algorithm": {"ditto": {"lam": 0.3}}})
    assert config.algorithm_name == "ditto" and config.algorithm_params == DittoParams(lam=0.3, personal_epochs=1)
    assert build_algorithm(config.algorithm_name, config.algorithm_params).params.lam == 0.3
    assert build_algorithm("fedprox").params == FedProxParams(mu=0.01)
    assert config_from_mapping({"data": "d", "model": "m", "algorithm": {"fedrep": None}}).algorithm_params.head_epochs == 2
    section = section_from_mapping({"algorithms": ["fedavg_ft", {"fedprox": {"mu": 0.05}}], "rounds": 4})
    simulation = simulation_config_for(section, section.algorithms[1], "data", "model", seed=3)
    assert (simulation.algorithm_name, simulation.algorithm_params.mu, simulation.rounds, simulation.seed) == ("fedprox", 0.05, 4, 3)
    assert simulation.fingerprint() != simulation_config_for(section, "fedavg_ft", "data", "model", seed=3).fingerprint()


def test_fedprox_is_fedavg_at_mu_zero_and_pulls_toward_the_received_weights_otherwise(federation, tmp_path):
    def trained(algorithm):
        call = _call(federation, tmp_path, "fedavg", local={"lr": 5e-2, "epochs": 3})
        algorithm.train(call)
        return call.model, {k: v.detach().clone() for k, v in tiny_student().state_dict().items()}

    plain, reference = trained(build_algorithm("fedavg"))
    at_zero, _ = trained(build_algorithm("fedprox", FedProxParams(mu=0.0)))
    pulled, _ = trained(build_algorithm("fedprox", FedProxParams(mu=10.0)))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), at_zero.state_dict().values()))
    assert _distance(pulled, reference) < 0.5 * _distance(plain, reference)


@pytest.mark.parametrize("name", ["quickstart.yaml", "paper.yaml", "fedavg_benchmark.yaml", "privacy_sweep.yaml", "scale.yaml"])
def test_shipped_run_configs_federated_sections_are_valid(name):
    from pathlib import Path

    from fedrobust.config_schema import read_yaml_mapping

    section = section_from_mapping(read_yaml_mapping(Path(__file__).parent.parent / "configs" / name)["federated"])
    assert section.algorithms
