"""Flower's server optimizers (FedAvgM, FedAdam, FedYogi, FedAdagrad) over the seeded strategy:
their first steps follow the papers' formulas, their state survives a checkpoint, and round DP's
noise is added to the mean before the optimizer's step."""

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import build_algorithm
from fedrobust.federated.checkpoint import Checkpointer
from fedrobust.federated.cohorts import DEVICES_KEY, pack_reply
from fedrobust.federated.config import config_from_mapping
from fedrobust.federated.server_app import make_strategy
from fedrobust.federated.server_optimizers import SERVER_OPTIMIZERS, ServerStep

X0 = np.array([0.5, -1.0, 2.0, 0.0], dtype=np.float32)
# per device: (its returned weights minus the weights it received, its number of examples)
UPDATES = {0: (np.array([0.2, -0.4, 0.0, 1.0], dtype=np.float32), 1),
           1: (np.array([-0.1, 0.2, 0.3, 1.0], dtype=np.float32), 3)}
MEAN = (UPDATES[0][0] * 1 + UPDATES[1][0] * 3) / 4  # FedAvg's example-weighted mean update


pytestmark = pytest.mark.usefixtures("flower_run_identity")  # tests/conftest.py


def _config(server_optimizer=None, **extra):
    return config_from_mapping({"data": "unused", "model": "unused", "algorithm": "fedavg", "fraction_train": 1.0,
                                "server_optimizer": server_optimizer, **extra})


def _strategy(server_optimizer=None, **extra):
    strategy = make_strategy(build_algorithm("fedavg"), _config(server_optimizer, **extra))
    strategy.devices_of = {100 + d: [d] for d in UPDATES}
    return strategy


def _round(strategy, server_round: int, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """One round from weights ``x``: every device returns x + scale * its update."""
    replies = []
    for message in strategy.configure_train(server_round, ArrayRecord({"w": Array(x.copy())}), ConfigRecord({}), None):
        (device,) = message.content["config"][DEVICES_KEY]
        update, examples = UPDATES[device]
        content = pack_reply({device: ArrayRecord({"w": Array((x + scale * update).astype(np.float32))})},
                             {device: MetricRecord({"num-examples": examples, "train-loss": 0.5})}, {})
        replies.append(Message(content, reply_to=message))
    arrays, _ = strategy.aggregate_train(server_round, replies)
    return arrays["w"].numpy()


def _rounds(strategy, count: int, first: int = 1, x: np.ndarray = X0) -> list[np.ndarray]:
    out = []
    for r in range(first, first + count):
        x = _round(strategy, r, x, scale=1.0 / r)  # a different update each round
        out.append(x)
    return out


def test_every_optimizer_is_flowers_own_class_under_the_seeded_strategy():
    from flwr.serverapp.strategy import FedAdagrad, FedAdam, FedAvgM, FedYogi

    flower = {"fedavgm": FedAvgM, "fedadam": FedAdam, "fedyogi": FedYogi, "fedadagrad": FedAdagrad}
    assert set(SERVER_OPTIMIZERS.names()) == set(flower)
    for name, cls in flower.items():
        strategy = _strategy(name)
        assert isinstance(strategy, cls) and isinstance(strategy, ServerStep)
        # below fedrobust's dtype/state layer, Flower's own step is the aggregate_train that runs
        order = type(strategy).__mro__
        assert order[1] is ServerStep and next(c for c in order[2:] if "aggregate_train" in c.__dict__) is cls


def test_fedadam_with_zero_learning_rate_leaves_the_model_unchanged():
    strategy = _strategy({"fedadam": {"eta": 0.0}})
    for x in _rounds(strategy, 3):
        assert np.array_equal(x, X0)


def test_fedavgm_without_momentum_at_rate_one_is_fedavg():
    plain = _rounds(_strategy(None), 3)
    fedavgm = _rounds(_strategy({"fedavgm": {"server_learning_rate": 1.0, "server_momentum": 0.0}}), 3)
    for a, b in zip(plain, fedavgm):
        assert np.array_equal(a, b)
    assert np.allclose(plain[0], X0 + MEAN, atol=1e-7)


def test_fedavgm_steps_follow_hsu_et_al():
    lr, beta = 0.5, 0.9
    x1, x2 = _rounds(_strategy({"fedavgm": {"server_learning_rate": lr, "server_momentum": beta}}), 2)
    g1 = -MEAN  # pseudo-gradient x_t - mean(y_i)
    assert np.allclose(x1, X0 - lr * g1, atol=1e-6)
    v2 = beta * g1 + (-MEAN / 2)  # round 2's updates are half as large
    assert np.allclose(x2, x1 - lr * v2, atol=1e-6)


def test_fedadam_first_step_is_reddi_et_al_with_flowers_bias_correction():
    eta, b1, b2, tau = 0.05, 0.9, 0.99, 1e-3
    (x1,) = _rounds(_strategy({"fedadam": {"eta": eta, "beta_1": b1, "beta_2": b2, "tau": tau}}), 1)
    m1, v1 = (1 - b1) * MEAN, (1 - b2) * MEAN ** 2
    correction = np.sqrt(1 - b2 ** 2) / (1 - b1 ** 2)  # Flower's, in round 1 (the paper has none)
    assert np.allclose(x1, X0 + eta * correction * m1 / (np.sqrt(v1) + tau), atol=1e-6)
    assert x1.dtype == np.float32  # the step is kept in the model's dtype


def test_fedyogi_first_step_is_reddi_et_al():
    eta, b1, b2, tau = 0.05, 0.9, 0.99, 1e-3
    (x1,) = _rounds(_strategy({"fedyogi": {"eta": eta, "beta_1": b1, "beta_2": b2, "tau": tau}}), 1)
    m1 = (1 - b1) * MEAN
    v1 = 0 - (1 - b2) * MEAN ** 2 * np.sign(0 - MEAN ** 2)  # Yogi's additive update from v_0 = 0
    assert np.allclose(x1, X0 + eta * m1 / (np.sqrt(v1) + tau), atol=1e-6)


def test_fedadagrad_first_step_is_reddi_et_al():
    eta, tau = 0.05, 1e-3
    (x1,) = _rounds(_strategy({"fedadagrad": {"eta": eta, "tau": tau}}), 1)
    assert np.allclose(x1, X0 + eta * MEAN / (np.sqrt(MEAN ** 2) + tau), atol=1e-6)


@pytest.mark.parametrize("optimizer", ["fedavgm", "fedadam", "fedyogi", "fedadagrad"])
def test_optimizer_state_survives_a_checkpoint(tmp_path, optimizer):
    """Round 1, checkpoint, a fresh strategy resumed from it: rounds 2 and 3 as in one go."""
    whole = _rounds(_strategy(optimizer), 3)
    cut = _strategy(optimizer)
    (x1,) = _rounds(cut, 1)
    state = cut.state_arrays()
    assert state and all(key.startswith(f"{optimizer}.") for key in state)
    Checkpointer(tmp_path, "fp").save(1, ArrayRecord({"w": Array(x1)}), {"round": 1}, {}, state)
    checkpoints = Checkpointer(tmp_path, "fp")
    completed, arrays = checkpoints.resume()
    assert completed == 1
    resumed = _strategy(optimizer)
    resumed.restore_state_arrays(checkpoints.strategy_arrays)
    again = _rounds(resumed, 2, first=2, x=arrays["w"].numpy())
    assert np.array_equal(again[0], whole[1]) and np.array_equal(again[1], whole[2])
    fresh = _rounds(_strategy(optimizer), 2, first=2, x=x1)
    assert not np.array_equal(fresh[1], whole[2])  # without the state, the run would drift


def test_round_dp_clips_and_noises_the_mean_before_the_optimizer_step():
    # FedAvgM at rate 0.5 without momentum: x1 = x0 + 0.5 * (noised mean of clipped updates), so the
    # noise's std is halved; Flower's wrapper around the optimizer would add it after the step.
    sigma, clip = 2.0, 0.5
    strategy = _strategy({"fedavgm": {"server_learning_rate": 0.5, "server_momentum": 0.0}},
                         privacy={"rounds": {"mode": "server_fixed", "noise_multiplier": sigma, "clipping_norm": clip}})
    x0 = np.zeros(4000, dtype=np.float32)
    replies = []
    for message in strategy.configure_train(1, ArrayRecord({"w": Array(x0)}), ConfigRecord({}), None):
        (device,) = message.content["config"][DEVICES_KEY]
        content = pack_reply({device: ArrayRecord({"w": Array(np.full(4000, 1e-4, dtype=np.float32))})},
                             {device: MetricRecord({"num-examples": 5, "train-loss": 0.5})}, {})
        replies.append(Message(content, reply_to=message))
    arrays, _ = strategy.aggregate_train(1, replies)
    assert np.std(arrays["w"].numpy()) == pytest.approx(0.5 * sigma * clip / 2, rel=0.08)


def test_round_dp_clipping_reaches_an_adaptive_optimizer():
    clip, eta, tau = 0.1, 0.05, 1e-3
    strategy = _strategy({"fedadagrad": {"eta": eta, "tau": tau}},
                         privacy={"rounds": {"mode": "server_fixed", "noise_multiplier": 0.0, "clipping_norm": clip}})
    (x1,) = _rounds(strategy, 1)
    clipped = [u * min(1.0, clip / np.linalg.norm(u)) for u, _ in (UPDATES[0], UPDATES[1])]
    mean = (clipped[0] + clipped[1]) / 2  # round DP averages with equal weights
    assert np.allclose(x1, X0 + eta * mean / (np.abs(mean) + tau), atol=1e-6)


def test_server_optimizer_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"server_optimizer\.fedadam\.eta"):
        _config({"fedadam": {"eta": -1.0}})
    with pytest.raises(ConfigError, match=r"unknown config key server_optimizer\.fedyogi\.eta_l"):
        _config({"fedyogi": {"eta_l": 0.1}})
    with pytest.raises(ConfigError, match="unknown server optimizer 'adam'.*fedadam"):
        _config("adam")
    assert _config("fedadam").label == "fedavg+fedadam" and _config().label == "fedavg"
    assert _config("fedadam").fingerprint() != _config().fingerprint()


def test_a_server_optimizer_per_algorithm_entry(tmp_path):
    from fedrobust.federated.config import section_from_mapping, simulation_config_for
    from fedrobust.pipeline.config import config_from_mapping as run_config_from_mapping
    from fedrobust.pipeline.stages import study_stages
    from tests.pipeline_helpers import tiny_run_mapping

    entries = ["fedavg", {"fedavg": {"server_optimizer": {"fedadam": {"eta": 0.01}}}},
               {"fedavg": {"server_optimizer": "fedyogi", "init": "public"}}, {"scaffold": {"server_optimizer": "fedavgm"}}]
    section = section_from_mapping({"algorithms": entries})
    configs = [simulation_config_for(section, entry, "d", "m", 0) for entry in entries]
    assert [c.label for c in configs] == ["fedavg", "fedavg+fedadam", "fedavg+fedyogi@public", "scaffold+fedavgm"]
    assert [c.server_optimizer for c in configs] == [None, {"fedadam": {"eta": 0.01}}, "fedyogi", "fedavgm"]
    assert [c.algorithm for c in configs] == ["fedavg", "fedavg", "fedavg", "scaffold"]
    assert configs[1].fingerprint() != configs[0].fingerprint()
    # the section's optimizer is every entry's default; an entry may name its own
    section = section_from_mapping({"algorithms": ["fedavg", {"fedprox": {"server_optimizer": "fedyogi"}}],
                                    "server_optimizer": "fedadam"})
    assert [simulation_config_for(section, e, "d", "m", 0).label for e in section.algorithms] == [
        "fedavg+fedadam", "fedprox+fedyogi"]
    # one stage per federation, named by its label
    run = run_config_from_mapping(tiny_run_mapping(tmp_path, algorithms=entries[:2]))
    assert {"federated-fedavg", "federated-fedavg+fedadam"} <= {s.name for s in study_stages(run)}
    with pytest.raises(ConfigError, match=r"algorithms\[0\]\.fedavg\.server_optimizer: unknown server optimizer 'adam'"):
        section_from_mapping({"algorithms": [{"fedavg": {"server_optimizer": "adam"}}]})
    with pytest.raises(ConfigError, match="lists fedavg\\+fedadam twice"):
        section_from_mapping({"algorithms": [{"fedavg": {"server_optimizer": "fedadam"}}, "fedavg"],
                              "server_optimizer": "fedadam"})
    with pytest.raises(ConfigError, match="server_optimizer .*disagree"):
        _config("fedadam", algorithm={"fedavg": {"server_optimizer": "fedyogi"}})
    assert _config(None, algorithm={"fedavg": {"server_optimizer": "fedyogi"}}).label == "fedavg+fedyogi"
