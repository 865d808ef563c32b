"""``local.engine: stacked`` (fedrobust.federated.stacked_rounds): a node trains its cohort's devices
together in federated rounds; each device's round is its own (a device's result does not depend on
how many devices its node holds), the loss it reports is its own, and settings the engine cannot
run are refused before any work."""

import csv

import pytest
import torch

from fedrobust.errors import ConfigError
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.federated.stacked_personalization import DeviceJob, train_stacked
from fedrobust.models import build_student
from tests.models_helpers import tokenizer

TEXTS = ["a warm and funny film", "dull, slow and far too long", "the cast is wonderful", "i wanted my money back",
         "sharp writing and a great score"]


def _rows(path):
    """The file's rows without timing columns (wall_s), which differ between any two runs."""
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(handle)]


def test_a_devices_stacked_round_is_its_local_training_without_dropout():
    torch.manual_seed(0)
    model = build_student("bigru_attention", num_labels=2, vocab_size=tokenizer().vocab_size,
                          embedding={"kind": "factorized", "dim": 16, "rank": 8}, hidden=16, dropout=0.0)
    tok = tokenizer(24)
    labels = [0, 1, 0, 1, 0]
    encoded = tok(TEXTS)
    (result,) = train_stacked([DeviceJob(model, encoded["input_ids"], encoded["attention_mask"],
                                         torch.tensor(labels), seed=7)], epochs=2, lr=0.01, batch_size=2, max_length=24)
    reference = build_student("bigru_attention", num_labels=2, vocab_size=tokenizer().vocab_size,
                              embedding={"kind": "factorized", "dim": 16, "rank": 8}, hidden=16, dropout=0.0)
    reference.load_state_dict(model.state_dict())
    report = train_locally(reference, tok, TEXTS, labels, TrainSettings(epochs=2, lr=0.01, batch_size=2), seed=7)
    assert result.steps == report["steps"] == 6  # 3 batches of at most 2 texts, 2 epochs
    assert result.train_loss == pytest.approx(report["train_loss"], abs=1e-5)
    for name, value in reference.state_dict().items():
        assert torch.allclose(result.model.state_dict()[name], value, atol=5e-5, rtol=1e-4), name


def test_stacked_rounds_match_one_device_per_node_and_differ_from_per_device(factorized_federation, tmp_path):
    from fedrobust.federated.simulate import simulate
    from tests.federated_helpers import sim_config

    data_dir, model_dir, _ = factorized_federation
    runs = {}
    for label, engine, per_node in (("stacked_1", "stacked", 1), ("stacked_3", "stacked", 3), ("per_device", "per_device", 3)):
        config = sim_config(data_dir, model_dir, algorithm="fedavg", rounds=2, fraction_train=0.6,
                            local={"engine": engine, "epochs": 2, "batch_size": 2},
                            simulation={"devices_per_node": per_node})
        simulate(config, tmp_path / label)
        runs[label] = (_rows(tmp_path / label / "rounds.csv"), _rows(tmp_path / label / "clients.csv"))
    assert runs["stacked_1"] == runs["stacked_3"]
    losses = [float(r["train_loss"]) for r in runs["stacked_3"][0] if r.get("train_loss")]
    assert losses and all(loss > 0 for loss in losses)
    assert runs["stacked_3"][1] != runs["per_device"][1]  # other kernels and dropout draws: other global models


def test_the_local_engine_is_part_of_the_fingerprint_only_when_stacked(factorized_federation):
    from tests.federated_helpers import sim_config

    data_dir, model_dir, _ = factorized_federation
    default = sim_config(data_dir, model_dir, algorithm="fedavg")
    assert sim_config(data_dir, model_dir, algorithm="fedavg", local={"engine": "per_device"}).fingerprint() == default.fingerprint()
    assert sim_config(data_dir, model_dir, algorithm="fedavg", local={"engine": "stacked"}).fingerprint() != default.fingerprint()


@pytest.mark.parametrize("algorithm, local, message", [
    ("fedprox", {}, r"algorithm \(fedprox\) trains its own way"),
    ("robust_student", {}, r"algorithm \(robust_student\) trains its own way"),
    ("scaffold", {}, r"algorithm \(scaffold\) trains its own way"),
    ("fedavg", {"adversarial": True}, "without an adversarial objective"),
])
def test_algorithms_and_settings_the_engine_cannot_run_are_refused(factorized_federation, algorithm, local, message):
    from tests.federated_helpers import sim_config

    data_dir, model_dir, _ = factorized_federation
    with pytest.raises(ConfigError, match=message):
        sim_config(data_dir, model_dir, algorithm=algorithm, local={"engine": "stacked", **local})


def test_an_unknown_engine_is_refused(factorized_federation):
    from tests.federated_helpers import sim_config

    data_dir, model_dir, _ = factorized_federation
    with pytest.raises(ConfigError, match="local.engine must be one of per_device, stacked"):
        sim_config(data_dir, model_dir, algorithm="fedavg", local={"engine": "vmap"})


def test_a_student_the_engine_cannot_take_fails_its_devices_with_the_reason(factorized_federation, tmp_path):
    from fedrobust.federated.failures import FederationError
    from fedrobust.federated.simulate import simulate
    from tests.federated_helpers import sim_config

    data_dir, _, hashed_dir = factorized_federation
    config = sim_config(data_dir, hashed_dir, algorithm="fedavg", rounds=1, fraction_train=1.0,
                        local={"engine": "stacked"}, simulation={"devices_per_node": 5})
    with pytest.raises(FederationError, match="factorized embedding"):
        simulate(config, tmp_path / "hashed")
