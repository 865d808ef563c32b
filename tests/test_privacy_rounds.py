"""DP federated rounds: Flower's server-side DP wrappers around the seeded strategy, and their
user-level accounting."""

import json
import math

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord

from fedrobust.federated.algorithms import build_algorithm
from fedrobust.federated.cohorts import DEVICES_KEY, pack_reply
from fedrobust.federated.config import config_from_mapping
from fedrobust.privacy.accounting import federation_epsilon, rounds_epsilon, sampled_per_round
from fedrobust.federated.server_app import make_strategy
from fedrobust.privacy.round_dp import RoundPrivacy, restore_round_state, round_record, round_state

SIZE = 4000


pytestmark = pytest.mark.usefixtures("flower_run_identity")  # tests/conftest.py


def _config(algorithm="fedavg", **rounds):
    return config_from_mapping({"data": "unused", "model": "unused", "algorithm": algorithm, "fraction_train": 1.0,
                                "privacy": {"rounds": rounds}})


def _round(strategy, updates: dict[int, np.ndarray], examples: dict[int, int]):
    """One round: the devices reply with global (zeros) + their update."""
    strategy.devices_of = {100 + d: [d] for d in updates}
    start = ArrayRecord({"w": Array(np.zeros(SIZE, dtype=np.float32))})
    replies = []
    for message in strategy.configure_train(1, start, ConfigRecord({}), None):
        (device,) = message.content["config"][DEVICES_KEY]
        content = pack_reply({device: ArrayRecord({"w": Array(updates[device].astype(np.float32))})},
                             {device: MetricRecord({"num-examples": examples[device], "train-loss": 0.5})}, {})
        replies.append(Message(content, reply_to=message))
    arrays, _ = strategy.aggregate_train(1, replies)
    return arrays["w"].numpy()


def test_fixed_clipping_clips_each_device_and_averages_them_equally():
    strategy = make_strategy(build_algorithm("fedavg"), _config(mode="server_fixed", noise_multiplier=0.0, clipping_norm=1.0))
    assert isinstance(strategy, RoundPrivacy)
    big = np.full(SIZE, 1.0)  # norm sqrt(SIZE) >> 1: clipped to norm 1
    small = np.full(SIZE, 0.2 / math.sqrt(SIZE))  # norm 0.2: kept
    result = _round(strategy, {0: big, 1: small, 2: small, 3: small}, {0: 1000, 1: 10, 2: 10, 3: 10})
    expected = (big / np.linalg.norm(big) + 3 * small) / 4  # equal weights despite 1000 vs 10 examples
    assert np.allclose(result, expected, atol=1e-6)


def test_noise_has_the_gaussian_mechanism_scale():
    sigma, clip, devices = 2.0, 0.5, 4
    strategy = make_strategy(build_algorithm("fedavg_ft"), _config(mode="server_fixed", noise_multiplier=sigma, clipping_norm=clip))
    tiny = np.full(SIZE, 1e-4)  # (Flower's clipping divides by the update norm: not exactly 0)
    result = _round(strategy, {d: tiny for d in range(devices)}, {d: 5 for d in range(devices)})
    assert np.std(result) == pytest.approx(sigma * clip / devices, rel=0.08)
    again = make_strategy(build_algorithm("fedavg_ft"), _config(mode="server_fixed", noise_multiplier=sigma, clipping_norm=clip))
    assert np.array_equal(_round(again, {d: tiny for d in range(devices)}, {d: 5 for d in range(devices)}), result)  # seeded


def test_adaptive_clipping_moves_the_clipping_norm_toward_the_update_norms():
    strategy = make_strategy(build_algorithm("fedprox"), _config(mode="server_adaptive", noise_multiplier=0.0, clipping_norm=0.1,
                                                               clipped_count_stddev=0.0))
    big = np.full(SIZE, 1.0)
    _round(strategy, {d: big for d in range(4)}, {d: 5 for d in range(4)})
    assert strategy.dp_strategy.clipping_norm > 0.1  # every update was clipped: the bound grows


def _aggregate(strategy, server_round: int, updates: dict[int, np.ndarray], failed: tuple[int, ...] = ()):
    """One round on a strategy whose devices_of is set: devices in ``failed`` reply without an update."""
    start = ArrayRecord({"w": Array(np.zeros(SIZE, dtype=np.float32))})
    replies = []
    for message in strategy.configure_train(server_round, start, ConfigRecord({}), None):
        (device,) = message.content["config"][DEVICES_KEY]
        if device in failed:
            content = pack_reply({}, {}, {device: "RuntimeError: injected"})
        else:
            content = pack_reply({device: ArrayRecord({"w": Array(updates[device].astype(np.float32))})},
                                 {device: MetricRecord({"num-examples": 5, "train-loss": 0.5})}, {})
        replies.append(Message(content, reply_to=message))
    arrays, _ = strategy.aggregate_train(server_round, replies)
    return arrays["w"].numpy()


def test_noise_is_sized_for_the_updates_averaged_when_a_device_fails():
    sigma, clip = 2.0, 0.5
    strategy = make_strategy(build_algorithm("fedavg"), _config(mode="server_fixed", noise_multiplier=sigma, clipping_norm=clip))
    strategy.devices_of = {100 + d: [d] for d in range(4)}
    tiny = np.full(SIZE, 1e-4)
    result = _aggregate(strategy, 1, {d: tiny for d in range(4)}, failed=(2,))
    # three updates are averaged: std sigma * clip / 3 (Flower's wrapper would use the 4 sampled)
    assert np.std(result) == pytest.approx(sigma * clip / 3, rel=0.08)
    assert round_record(strategy) == {"dp_averaged": 3, "dp_clipping_norm": clip, "dp_noise_std": pytest.approx(sigma * clip / 3)}


def test_adaptive_noise_uses_the_bound_that_clipped_the_round():
    strategy = make_strategy(build_algorithm("fedavg"), _config(mode="server_adaptive", noise_multiplier=0.5, clipping_norm=0.1,
                                                              clipped_count_stddev=2.0))
    strategy.devices_of = {100 + d: [d] for d in range(4)}
    result = _aggregate(strategy, 1, {d: np.full(SIZE, 1e-4) for d in range(4)})
    record, effective_sigma = round_record(strategy), strategy.dp_strategy.noise_multiplier
    assert record["dp_clipping_norm"] == 0.1 and strategy.dp_strategy.clipping_norm != 0.1  # the bound moved after
    assert record["dp_noise_std"] == pytest.approx(effective_sigma * 0.1 / 4)
    assert np.std(result) == pytest.approx(record["dp_noise_std"], rel=0.08)


def test_adaptive_clipping_state_carries_a_run_through_a_restart():
    def fresh():
        strategy = make_strategy(build_algorithm("fedavg"), _config(mode="server_adaptive", noise_multiplier=0.5,
                                                                   clipping_norm=0.1, clipped_count_stddev=2.0))
        strategy.devices_of = {100 + d: [d] for d in range(4)}
        return strategy

    big = {d: np.full(SIZE, 0.01 * (d + 1)) for d in range(4)}
    whole = fresh()
    rounds = [_aggregate(whole, r, big) for r in (1, 2, 3)]
    cut = fresh()
    _aggregate(cut, 1, big)
    resumed = fresh()
    restore_round_state(resumed, json.loads(json.dumps(round_state(cut))))  # as the checkpoint keeps it
    assert np.array_equal(_aggregate(resumed, 2, big), rounds[1]) and np.array_equal(_aggregate(resumed, 3, big), rounds[2])
    assert resumed.dp_strategy.clipping_norm == whole.dp_strategy.clipping_norm != 0.1
    not_restored = fresh()
    assert not np.array_equal(_aggregate(not_restored, 2, big), rounds[1])  # the initial bound gives another round


def test_no_round_dp_leaves_the_strategy_alone():
    strategy = make_strategy(build_algorithm("fedavg"), _config())
    assert not isinstance(strategy, RoundPrivacy) and not strategy.uniform_weights


def test_rounds_epsilon_is_opacus_rdp_for_the_sampled_fraction():
    from opacus.accountants import RDPAccountant

    num_clients, rounds, sigma = 200, 7, 1.1
    sampled = sampled_per_round(num_clients, 0.1, 2)
    accountant = RDPAccountant()
    for _ in range(rounds):
        accountant.step(noise_multiplier=sigma, sample_rate=sampled / num_clients)
    assert rounds_epsilon(sigma, num_clients, sampled, rounds, 1e-5) == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-9)
    config = config_from_mapping({"data": "unused", "model": "unused", "rounds": rounds, "fraction_train": 0.1,
                                  "privacy": {"rounds": {"mode": "server_fixed", "noise_multiplier": sigma}}})
    assert federation_epsilon(config.privacy.rounds, num_clients, rounds, 0.1, 2) == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-9)
    assert federation_epsilon(config.privacy.rounds, num_clients, 0, 0.1, 2) == 0.0  # no rounds
    no_dp = config_from_mapping({"data": "unused", "model": "unused", "rounds": rounds})
    assert federation_epsilon(no_dp.privacy.rounds, num_clients, rounds, 0.1, 2) == math.inf
