"""SCAFFOLD: the control variates of the paper (option II) on a device and on the server, exact
resume, and the same per-device results in cohort mode as with one device per node."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from safetensors.torch import load_file

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.algorithms.scaffold import CONTROL_CHANGE, SERVER_CONTROL, ScaffoldStrategy
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.cohorts import DEVICES_KEY, pack_reply
from fedrobust.federated.server_app import make_strategy
from fedrobust.federated.simulate import simulate
from tests.federated_helpers import TINY_STUDENT, client_data, make_federation, sim_config, tokenizer


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("scaffold"), num_owners=6)  # 5 device clients


def _student():
    import fedrobust.models.students  # noqa: F401
    from fedrobust.models.registry import build_student

    torch.manual_seed(3)
    settings = {**TINY_STUDENT, "dropout": 0.0}  # deterministic gradients to compare with
    return build_student("bigru_attention", num_labels=3, vocab_size=tokenizer().vocab_size, **settings)


def _random_like(model, seed: int, scale: float) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {n: scale * torch.randn(p.shape, generator=generator) for n, p in model.named_parameters()}


def _device_round(federation, tmp_path, epochs: int, batch_size: int, lr: float):
    """One SCAFFOLD round on device 0 with a nonzero server c and device c_i; returns what it used and made."""
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm={"scaffold": {"lr": lr}},
                        local={"epochs": epochs, "batch_size": batch_size})
    model = _student()
    x = {n: p.detach().clone() for n, p in model.named_parameters()}
    c, c_i = _random_like(model, 1, 0.05), _random_like(model, 2, 0.05)
    state = ClientStateStore(tmp_path, "000000")
    state.save(1, c_i)  # the device's control variate from an earlier round
    call = ClientCall(config=config, partition_id=0, data=client_data(data_dir, 0), tokenizer=tokenizer(), model=model,
                      server_round=2, state=state,
                      server_records={SERVER_CONTROL: ArrayRecord({n: Array(v.numpy()) for n, v in c.items()})})
    metrics = build_algorithm("scaffold", config.algorithm_params).train(call)
    y = {n: p.detach().clone() for n, p in model.named_parameters()}
    new = state.load(before_round=3)
    change = {n: torch.from_numpy(a.numpy()) for n, a in call.reply_records[CONTROL_CHANGE].items()}
    return call, x, y, c, c_i, new, change, metrics


def test_one_local_step_makes_the_device_control_variate_its_gradient(federation, tmp_path):
    """K = 1: y_i = x - lr (g_i(x) - c_i + c), so option II gives c_i+ = g_i(x)."""
    lr = 0.1
    call, x, y, c, c_i, new, change, metrics = _device_round(federation, tmp_path, epochs=1, batch_size=1000, lr=lr)
    assert metrics["steps"] == 1
    reference = _student()  # the same start x: the device's full-batch gradient there, by hand
    encoded = tokenizer()(list(call.data.train_texts))
    loss = F.cross_entropy(reference(encoded["input_ids"], encoded["attention_mask"]),
                           torch.as_tensor(list(call.data.train_labels)))
    gradient = dict(zip([n for n, _ in reference.named_parameters()], torch.autograd.grad(loss, list(reference.parameters()))))
    for name in x:
        assert torch.allclose(y[name], x[name] - lr * (gradient[name] - c_i[name] + c[name]), atol=1e-6), name
        assert torch.allclose(new[name], gradient[name], atol=1e-5), name
        assert torch.allclose(change[name], new[name] - c_i[name], atol=1e-7), name


def test_several_local_steps_use_option_two(federation, tmp_path):
    """c_i+ = c_i - c + (x - y_i) / (K lr), K the number of local SGD steps."""
    lr = 0.05
    call, x, y, c, c_i, new, change, metrics = _device_round(federation, tmp_path, epochs=2, batch_size=8, lr=lr)
    steps = 2 * -(-call.data.n_train // 8)
    assert metrics["steps"] == steps > 2
    for name in x:
        assert torch.allclose(new[name], c_i[name] - c[name] + (x[name] - y[name]) / (steps * lr), atol=1e-5), name
        assert torch.allclose(change[name], new[name] - c_i[name], atol=1e-7), name


def _server_round(strategy, server_round: int, changes: dict[int, np.ndarray]):
    """The devices reply with weights x + 1 and the given Delta c_i; returns the messages sent."""
    sent = list(strategy.configure_train(server_round, ArrayRecord({"w": Array(np.zeros(3, np.float32))}),
                                         ConfigRecord({}), None))
    replies = []
    for message in sent:
        (device,) = message.content["config"][DEVICES_KEY]
        content = pack_reply({device: ArrayRecord({"w": Array(np.ones(3, np.float32))})},
                             {device: MetricRecord({"num-examples": 5, "train-loss": 0.5})}, {},
                             {device: {CONTROL_CHANGE: ArrayRecord({"w": Array(changes[device])})}})
        replies.append(Message(content, reply_to=message))
    arrays, _ = strategy.aggregate_train(server_round, replies)
    assert np.allclose(arrays["w"].numpy(), 1.0)  # the control changes are not averaged into the weights
    return sent


def test_server_control_variate_moves_by_the_sampled_changes_over_all_devices(flower_run_identity):
    strategy = ScaffoldStrategy(fraction_train=0.5, min_train_nodes=1, fraction_evaluate=0.0, seed=0)
    strategy.devices_of = {100 + d: [d] for d in range(4)}  # N = 4, |S| = 2
    changes = {d: np.array([1.0, -2.0, 0.5], np.float32) * (d + 1) for d in range(4)}
    first = _server_round(strategy, 1, changes)
    assert all(len(m.content[SERVER_CONTROL]) == 0 for m in first)  # c starts at 0
    sampled = [m.content["config"][DEVICES_KEY][0] for m in first]
    expected = sum(changes[d] for d in sampled) / 4  # c + |S|/N * mean(Delta c_i)
    assert len(sampled) == 2 and np.allclose(strategy.control["w"], expected)
    second = _server_round(strategy, 2, changes)
    assert all(np.allclose(m.content[SERVER_CONTROL]["w"].numpy(), expected) for m in second)  # sent to the devices
    sampled = [m.content["config"][DEVICES_KEY][0] for m in second]
    expected = expected + sum(changes[d] for d in sampled) / 4
    assert np.allclose(strategy.control["w"], expected)
    resumed = ScaffoldStrategy(fraction_train=0.5, min_train_nodes=1, fraction_evaluate=0.0, seed=0)
    resumed.restore_state_arrays(strategy.state_arrays())
    assert np.array_equal(resumed.control["w"], strategy.control["w"])


def test_scaffold_composes_with_a_server_optimizer_and_refuses_round_dp(federation):
    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, algorithm="scaffold", server_optimizer="fedavgm")
    strategy = make_strategy(build_algorithm("scaffold"), config)
    assert isinstance(strategy.inner, ScaffoldStrategy)
    strategy.inner.control = {"w": np.ones(2, np.float32)}
    assert set(strategy.state_arrays()) == {"scaffold.c/w"}  # checkpointed through the optimizer
    private = sim_config(data_dir, model_dir, algorithm="scaffold",
                         privacy={"rounds": {"mode": "server_fixed", "noise_multiplier": 1.0, "clipping_norm": 1.0}})
    with pytest.raises(ConfigError, match="privacy.rounds.mode"):
        make_strategy(build_algorithm("scaffold"), private)


def _rounds_table(path):
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_scaffold_resumes_exactly_and_cohorts_match_one_device_per_node(federation, tmp_path):
    data_dir, model_dir = federation
    base = dict(algorithm={"scaffold": {"lr": 0.05}}, rounds=2, fraction_train=0.6)
    one, cohort = tmp_path / "per_node_1", tmp_path / "per_node_3"
    simulate(sim_config(data_dir, model_dir, **base), one)
    simulate(sim_config(data_dir, model_dir, **base, simulation={"devices_per_node": 3}), cohort)
    control = "checkpoints/round_0002.strategy.safetensors"
    for name in ("clients.csv", "checkpoints/round_0002.safetensors", control):
        assert (one / name).read_bytes() == (cohort / name).read_bytes(), name
    assert _rounds_table(one / "rounds.csv") == _rounds_table(cohort / "rounds.csv")
    assert any(t.abs().sum() > 0 for t in load_file(str(one / control)).values())  # c moved
    # a kill during round 2: round 1 committed, nothing after it (c_i saves of round 2 stay, unread)
    cut = tmp_path / "cut"
    shutil.copytree(one, cut)
    for name in ("checkpoints/round_0002.safetensors", control, "clients.csv", "summary.json", "rounds.csv"):
        (cut / name).unlink()
    progress = json.loads((cut / "progress.json").read_text())
    progress.update(completed_round=1, rounds=progress["rounds"][:1])
    (cut / "progress.json").write_text(json.dumps(progress))
    summary = simulate(sim_config(data_dir, model_dir, **base), cut)
    assert summary["rounds_completed"] == 2
    for name in ("clients.csv", "checkpoints/round_0002.safetensors", control):
        assert (cut / name).read_bytes() == (one / name).read_bytes(), name
