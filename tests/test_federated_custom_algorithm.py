"""An algorithm defined and registered here, in a test module, without editing anything under
fedrobust/: its settings come from the config, and it runs through a 2-round Flower simulation
(the simulation workers import this module to find it)."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file

from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ALGORITHMS, Algorithm, ClientCall, register_algorithm
from fedrobust.federated.simulate import simulate
from tests.federated_helpers import make_federation, sim_config

NAME = "stamped_fedavg_under_test"


@dataclass(frozen=True)
class StampParams:
    stamp: float = 1.0  # what every training round writes into the device's state


@register_algorithm
class StampedFedAvg(Algorithm):
    """FedAvg whose devices record the configured stamp and the round in their state each round."""

    name = NAME
    Params = StampParams
    personalizes = False

    def train(self, call: ClientCall) -> dict[str, float]:
        call.state.save(call.server_round, {"stamp": torch.tensor([self.params.stamp]),
                                            "round": torch.tensor([call.server_round])})
        return super().train(call)


def test_the_algorithm_is_registered_by_importing_its_module():
    assert ALGORITHMS.get(NAME) is StampedFedAvg


def test_its_settings_are_checked_against_its_params(tmp_path):
    with pytest.raises(ConfigError, match=f"unknown config key algorithm.{NAME}.stmp"):
        sim_config(tmp_path, tmp_path, algorithm={NAME: {"stmp": 2.0}})
    with pytest.raises(ConfigError, match=f"config key algorithm.{NAME}.stamp must be float"):
        sim_config(tmp_path, tmp_path, algorithm={NAME: {"stamp": "high"}})
    assert sim_config(tmp_path, tmp_path, algorithm=NAME).algorithm_params == StampParams()


def test_a_two_round_simulation_runs_it_with_its_settings(tmp_path):
    data_dir, model_dir = make_federation(tmp_path, num_owners=6)  # 5 devices
    config = sim_config(data_dir, model_dir, algorithm={NAME: {"stamp": 7.5}}, rounds=2, fraction_train=0.5,
                        evaluate={"examples": 0})
    summary = simulate(config, tmp_path / "run")
    assert summary["algorithm"] == NAME and summary["rounds_completed"] == 2 and summary["failures"]["count"] == 0
    with open(tmp_path / "run" / "rounds.csv") as handle:
        rounds = list(csv.DictReader(handle))
    assert [r["algorithm"] for r in rounds] == [NAME, NAME]
    # the devices' train hook ran in the simulation workers, once per sampled device and round,
    # with the configured stamp
    saves = sorted((tmp_path / "run" / "client_state").glob("*/round_*.safetensors"))
    assert len(saves) == sum(int(r["succeeded"]) for r in rounds) >= 4
    for path in saves:
        saved = load_file(str(path))
        assert float(saved["stamp"]) == 7.5 and int(saved["round"]) == int(path.stem.split("_")[1])
