"""Per-FedAvg, pFedMe, FedRoD and FedALA: each one's defining property on one device and their
on-device DP accounting (a tiny federation with each: test_pfl_algorithms_a.py; FedALA's cohort
mode: test_federated_cohorts.py)."""

import copy
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from fedrobust.data.federated import ClientData
from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.algorithms.fedala import FedALAParams, merge, top_parameters
from fedrobust.federated.algorithms.fedrod import PERSONAL_HEAD, BalancedSoftmax, log_prior
from fedrobust.federated.algorithms.per_fedavg import PerFedAvgParams
from fedrobust.federated.algorithms.pfedme import PFedMeParams
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.transport import to_arrays
from fedrobust.privacy.accounting import dp_report, history_epsilon
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.dp_personalization import poisson_schedule
from tests.federated_helpers import client_data, make_federation, sim_config, tiny_student, tokenizer

SIGMA, DELTA = 1.0, 1e-4


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("pfl_b"), num_owners=4)  # 3 device clients


def _call(federation, state_dir, algorithm, model=None, server_round=1, partition=0, data=None, **overrides):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm=algorithm, **overrides)
    return ClientCall(config=config, partition_id=partition, data=data or client_data(data_dir, partition),
                      tokenizer=tokenizer(), model=model if model is not None else tiny_student(),
                      server_round=server_round, state=ClientStateStore(state_dir, f"{partition:06d}"))


def _no_dropout(model):
    model.dropout.p = 0.0
    return model


def _floating(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def _close(a, b, atol=1e-6):
    return set(a) == set(b) and all(torch.allclose(a[k], b[k], atol=atol) for k in a)


def _equal(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def _mean_loss_gradient(model, data):
    """The gradient of the mean cross-entropy over the device's training texts, by parameter name."""
    encoded = tokenizer()(list(data.train_texts))
    model.zero_grad()
    loss = F.cross_entropy(model(encoded["input_ids"], encoded["attention_mask"]), torch.tensor(data.train_labels))
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    model.zero_grad()
    return grads


def _sgd_step(model, data, lr):
    moved = copy.deepcopy(model)
    grads = _mean_loss_gradient(moved, data)
    with torch.no_grad():
        for name, p in moved.named_parameters():
            p.sub_(lr * grads[name])
    return moved


# --- Per-FedAvg ------------------------------------------------------------------------------------

def test_per_fedavg_personalizes_with_exactly_one_sgd_step_of_size_alpha(federation, tmp_path, monkeypatch):
    alpha = 0.3
    steps = {"sgd": 0, "adam": 0}
    for name, cls in (("sgd", torch.optim.SGD), ("adam", torch.optim.Adam)):
        original = cls.step

        def counted(self, *args, _original=original, _name=name, **kwargs):
            steps[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "step", counted)
    model = _no_dropout(tiny_student())
    received = _floating(model)
    call = _call(federation, tmp_path, {"per_fedavg": {"alpha": alpha}}, model=model, server_round=3)
    personalized = build_algorithm("per_fedavg", PerFedAvgParams(alpha=alpha)).personalized_model(call)
    assert steps == {"sgd": 1, "adam": 0}
    expected = _floating(_sgd_step(model, call.data, alpha))
    assert _close(_floating(personalized), expected)
    assert not _close(_floating(personalized), received, atol=1e-4)
    assert _equal(_floating(call.model), received), "the global phase's model is left as it was"


def test_per_fedavg_meta_step_takes_the_outer_gradient_at_the_adapted_weights(federation, tmp_path):
    """With one batch holding every text, a round of one epoch is one first-order MAML step:
    w - beta grad f(w - alpha grad f(w)), not FedAvg's w - beta grad f(w)."""
    alpha, beta = 0.5, 0.2
    model = _no_dropout(tiny_student())
    start = copy.deepcopy(model)
    call = _call(federation, tmp_path, {"per_fedavg": {"alpha": alpha, "beta": beta}}, model=model,
                 local={"epochs": 1, "batch_size": 1000})
    metrics = build_algorithm("per_fedavg", PerFedAvgParams(alpha=alpha, beta=beta)).train(call)
    assert metrics["steps"] == 1
    adapted = _sgd_step(start, call.data, alpha)
    outer = _mean_loss_gradient(adapted, call.data)
    expected = {name: p.detach() - beta * outer[name] for name, p in start.named_parameters()}
    plain = _floating(_sgd_step(start, call.data, beta))
    trained = {name: p.detach() for name, p in call.model.named_parameters()}
    assert _close(trained, expected, atol=1e-5)
    assert not _close(trained, plain, atol=1e-4)


def test_per_fedavg_adaptation_step_is_one_dp_sgd_step_under_personalize_dp(federation, tmp_path):
    dp = {"noise_multiplier": SIGMA, "delta": DELTA}
    call = _call(federation, tmp_path, "per_fedavg", server_round=3, personalize={"dp": dp})
    personalized = build_algorithm("per_fedavg").personalized_model(call)
    assert dp_report(personalized).history == ((SIGMA, 1.0, 1),)


# --- pFedMe ----------------------------------------------------------------------------------------

def _proximal_gradient_norm(model, data, reference, lam):
    model.eval()
    grads = _mean_loss_gradient(model, data)
    total = sum(((grads[name] + lam * (p.detach() - reference[name])) ** 2).sum()
                for name, p in model.named_parameters())
    return float(total.sqrt())


def test_pfedme_personal_model_solves_the_proximal_problem_to_tolerance(federation, tmp_path):
    params = PFedMeParams(lam=2.0, personal_lr=0.2, tolerance=1e-4, final_steps=2000)
    model = tiny_student()  # its dropout is on: the final solve must turn it off itself
    received = _floating(model)
    call = _call(federation, tmp_path, {"pfedme": {"lam": 2.0, "personal_lr": 0.2, "tolerance": 1e-4,
                                                   "final_steps": 2000}}, model=model, server_round=3)
    assert _proximal_gradient_norm(copy.deepcopy(model), call.data, received, params.lam) > 100 * params.tolerance
    theta = build_algorithm("pfedme", params).personalized_model(call)
    assert _proximal_gradient_norm(theta, call.data, received, params.lam) <= params.tolerance
    assert not _close(_floating(theta), received, atol=1e-4)
    assert _equal(_floating(call.model), received)


def test_pfedme_local_model_moves_toward_the_personal_one_and_the_server_mix_is_beta(federation, tmp_path):
    """What a device sends is w_global + beta (w - w_global): FedAvg's mean of it is the paper's mix."""
    sent = {}
    for beta in (1.0, 0.5):
        call = _call(federation, tmp_path, {"pfedme": {"beta": beta}}, local={"lr": 0.05})
        build_algorithm("pfedme", PFedMeParams(beta=beta)).train(call)
        sent[beta] = _floating(call.model)
    start = _floating(tiny_student())
    assert not _close(sent[1.0], start, atol=1e-5)
    assert _close(sent[0.5], {k: start[k] + 0.5 * (sent[1.0][k] - start[k]) for k in start})


def test_pfedme_final_personal_model_is_dp_sgd_under_personalize_dp(federation, tmp_path):
    dp = {"noise_multiplier": SIGMA, "delta": DELTA}
    call = _call(federation, tmp_path, "pfedme", server_round=3, personalize={"epochs": 2, "batch_size": 4, "dp": dp})
    personalized = build_algorithm("pfedme").personalized_model(call)
    rate, steps = poisson_schedule(call.data.n_train, 4, 2)
    assert dp_report(personalized).history == ((SIGMA, rate, steps),)


# --- FedRoD ----------------------------------------------------------------------------------------

def _one_label(data, label=0):
    return ClientData(data.client_id, data.train_texts, [label] * len(data.train_labels), [], [])


def test_fedrod_generic_loss_is_cross_entropy_shifted_by_the_device_log_prior(federation):
    data = client_data(federation[0])
    labels = torch.tensor(data.train_labels)
    counts = torch.bincount(labels, minlength=3).double()
    assert counts.min() != counts.max(), "the device's labels are skewed"
    prior = log_prior(data.train_labels, 3)
    assert torch.allclose(prior.double(), torch.log(counts / counts.sum()), atol=1e-6)
    model = tiny_student().eval()
    encoded = tokenizer()(list(data.train_texts))
    logits = model(encoded["input_ids"], encoded["attention_mask"])
    balanced = BalancedSoftmax(model, prior).eval()(encoded["input_ids"], encoded["attention_mask"])
    shifted = logits + torch.log(counts / counts.sum()).float()
    assert torch.allclose(F.cross_entropy(balanced, labels), F.cross_entropy(shifted, labels))
    assert not torch.isclose(F.cross_entropy(balanced, labels), F.cross_entropy(logits, labels))


def test_fedrod_generic_model_does_not_learn_a_one_label_device_prior(federation, tmp_path):
    """On a device that holds one label, the balanced softmax loss is ~0: the generic model barely
    moves toward that label, while plain cross-entropy (FedAvg) pushes it there."""
    data = _one_label(client_data(federation[0]))
    encoded = tokenizer()(list(data.train_texts))

    def share_of_label_0(model):
        with torch.no_grad():
            return float(model.eval()(encoded["input_ids"], encoded["attention_mask"]).softmax(-1)[:, 0].mean())

    before = share_of_label_0(tiny_student())
    moved = {}
    for algorithm in ("fedrod", "fedavg"):
        call = _call(federation, tmp_path / algorithm, algorithm, data=data, local={"lr": 5e-2, "epochs": 2})
        build_algorithm(algorithm).train(call)
        moved[algorithm] = share_of_label_0(call.model) - before
    assert moved["fedavg"] > 0.3
    assert abs(moved["fedrod"]) < 0.01


def test_fedrod_personal_head_is_trained_and_never_leaves_the_device(federation, tmp_path):
    fedrod = build_algorithm("fedrod")
    call = _call(federation, tmp_path / "a", "fedrod", local={"lr": 5e-2})
    fedrod.train(call)
    sent = to_arrays(call.model, fedrod.shared_keys(call.model))
    assert not any(PERSONAL_HEAD in key for key in sent.keys())
    saved = call.state.load(before_round=2)
    assert sorted(saved) == [f"{PERSONAL_HEAD}.bias", f"{PERSONAL_HEAD}.weight"]
    assert saved[f"{PERSONAL_HEAD}.weight"].abs().sum() > 0, "trained from zero"
    # round 2 from two different personal heads sends the same generic model
    other = ClientStateStore(tmp_path / "b", "000000")
    other.save(1, {k: torch.randn_like(v) for k, v in saved.items()})
    sent_models = []
    for state_dir in ("a", "b"):
        round_two = _call(federation, tmp_path / state_dir, "fedrod", server_round=2, local={"lr": 5e-2})
        fedrod.train(round_two)
        sent_models.append(_floating(round_two.model))
    assert _equal(*sent_models)
    # the personalized model adds the personal head's logits to the generic model's
    final = _call(federation, tmp_path / "a", "fedrod", server_round=3, personalize={"epochs": 1})
    generic = copy.deepcopy(final.model).eval()
    personalized = fedrod.personalized_model(final).eval()
    encoded = tokenizer()(list(final.data.train_texts[:5]))
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    with torch.no_grad():
        out = generic.classify_embeddings(generic.embed(ids), mask)
        expected = out.logits + personalized.personal_head(out.features)
        assert torch.allclose(personalized(ids, mask), expected, atol=1e-6)
    assert _equal(_floating(personalized.inner), _floating(generic)), "only the personal head is fine-tuned"


def test_fedrod_personal_head_training_is_dp_sgd_composed_with_the_final_fine_tune(federation, tmp_path):
    dp = {"noise_multiplier": SIGMA, "delta": DELTA}
    overrides = {"local": {"epochs": 1, "batch_size": 8}, "personalize": {"epochs": 2, "batch_size": 4, "dp": dp}}
    fedrod = build_algorithm("fedrod")
    for server_round in (1, 2):
        fedrod.train(_call(federation, tmp_path, "fedrod", server_round=server_round, **overrides))
    n = client_data(federation[0], 0).n_train
    rate, steps = poisson_schedule(n, 8, 2)
    assert ClientStateStore(tmp_path, "000000").load_dp_history(before_round=3) == ((SIGMA, rate, steps),)
    personalized = fedrod.personalized_model(_call(federation, tmp_path, "fedrod", server_round=3, **overrides))
    expected = history_epsilon(((SIGMA, rate, steps), (SIGMA, *poisson_schedule(n, 4, 2))), DELTA)
    assert dp_report(personalized).epsilon == pytest.approx(expected, rel=1e-9)


# --- FedALA ----------------------------------------------------------------------------------------

def test_fedala_merge_is_the_global_model_at_one_and_the_local_model_at_zero():
    local, global_weights = _floating(tiny_student(seed=1)), _floating(tiny_student(seed=2))
    top = top_parameters(tiny_student(), 2)
    assert top == ["classifier.weight", "classifier.bias"]
    ones = {k: torch.ones_like(global_weights[k]) for k in top}
    zeros = {k: torch.zeros_like(global_weights[k]) for k in top}
    assert _equal(merge(local, global_weights, ones), global_weights)
    at_zero = merge(local, global_weights, zeros)
    assert all(torch.equal(at_zero[k], local[k]) for k in top)
    assert all(torch.equal(at_zero[k], global_weights[k]) for k in global_weights if k not in top)


def test_fedala_learns_weights_in_the_unit_interval_for_the_top_layers_only(federation, tmp_path):
    params = FedALAParams(layer_idx=2, eta=50.0, max_start_epochs=5)
    fedala = build_algorithm("fedala", params)
    first = _call(federation, tmp_path, {"fedala": {"eta": 50.0, "max_start_epochs": 5}}, local={"lr": 5e-2})
    init, weights = fedala.initial_weights(first)
    assert weights is None and _equal(init, _floating(tiny_student())), "no local model yet: the global model"
    fedala.train(first)
    local = {k[len("local."):]: v for k, v in first.state.load(before_round=2).items()}
    global_two = tiny_student(seed=7)
    second = _call(federation, tmp_path, {"fedala": {"eta": 50.0, "max_start_epochs": 5}}, model=global_two,
                   server_round=2)
    init, weights = fedala.initial_weights(second)
    top = top_parameters(global_two, 2)
    assert sorted(weights) == sorted(top)
    assert all(float(w.min()) >= 0.0 and float(w.max()) <= 1.0 for w in weights.values())
    assert any(float(w.min()) < 1.0 for w in weights.values()), "learned, not left at their start"
    received = _floating(global_two)
    assert all(torch.equal(init[k], received[k]) for k in received if k not in top)
    merged = merge(local, received, weights)
    assert _close({k: init[k] for k in top}, {k: merged[k] for k in top})
    # the round's training starts there; W is kept for the next round, and a re-run round gives the same
    fedala.train(second)
    saved = second.state.load(before_round=3)
    again = _call(federation, tmp_path, {"fedala": {"eta": 50.0, "max_start_epochs": 5}}, model=tiny_student(seed=7),
                  server_round=2)
    fedala.train(again)
    assert _equal(saved, again.state.load(before_round=3))
    assert sorted(k for k in saved if k.startswith("ala_weight.")) == sorted(f"ala_weight.{k}" for k in top)


def test_fedala_refuses_personalize_dp(federation, tmp_path):
    dp = {"noise_multiplier": SIGMA, "delta": DELTA}
    with pytest.raises(ConfigError, match=r"personalize\.dp\.enabled: false"):  # when the config is validated
        _call(federation, tmp_path, "fedala", personalize={"dp": dp})
    call = _call(federation, tmp_path, "fedala")
    fedala = build_algorithm("fedala")
    fedala.check_settings(call.config)  # no DP: nothing to refuse
    with_dp = replace(call.config, personalize=replace(call.config.personalize, dp=DPConfig(**dp)))
    with pytest.raises(ConfigError, match="personalize.dp"):  # a config built around validation is refused at work
        fedala.train(replace(call, config=with_dp))
    with pytest.raises(ConfigError, match=r"federated\.personalize\.dp\.enabled: false"):
        fedala.check_settings(with_dp, "federated")


# --- configs, and the federation end to end -------------------------------------------------------

def test_configs_name_the_algorithms_and_check_their_settings():
    from fedrobust.federated.config import config_from_mapping, section_from_mapping

    entries = [{"per_fedavg": {"alpha": 0.01}}, {"pfedme": {"lam": 5.0}}, "fedrod", {"fedala": {"layer_idx": 1}}]
    assert section_from_mapping({"algorithms": entries}).algorithms == entries
    bad = [({"per_fedavg": {"beta": 0.0}}, r"algorithm\.per_fedavg\.beta must be > 0"),
           ({"pfedme": {"inner_steps": 0}}, r"algorithm\.pfedme\.inner_steps must be >= 1"),
           ({"fedrod": {"personal_epochs": -1}}, r"algorithm\.fedrod\.personal_epochs must be >= 0"),
           ({"fedala": {"rand_percent": 0}}, r"algorithm\.fedala\.rand_percent must be in \(0, 100\]")]
    for entry, message in bad:
        with pytest.raises(ConfigError, match=message):
            config_from_mapping({"data": "d", "model": "m", "algorithm": entry})
