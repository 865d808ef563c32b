"""The stacked personalization engine (fedrobust.federated.stacked_personalization): a device's
result does not depend on the devices that share its stack, and the stacked model is the student's
own computation (checked against torch's packed GRU and Adam without dropout)."""

import copy

import pytest
import torch
import torch.nn.functional as F

from fedrobust.federated.local_training import TrainSettings
from fedrobust.federated.stacked_personalization import DeviceJob, eligible, personalize_stacked
from fedrobust.models import build_student
from tests.models_helpers import tokenizer

MAX_LENGTH = 24
REVIEWS = ["a warm and funny film", "dull, slow and far too long", "the cast is wonderful", "i wanted my money back",
           "sharp writing and a great score", "a mess from start to finish", "quietly moving", "forgettable",
           "one of the best of the year", "the plot makes no sense at all", "gorgeous to look at", "painfully bad"]


def student(dropout: float = 0.2, seed: int = 0):
    torch.manual_seed(seed)
    return build_student("bigru_attention", num_labels=2, vocab_size=tokenizer().vocab_size,
                         embedding={"kind": "factorized", "dim": 16, "rank": 8}, hidden=16, dropout=dropout)


def jobs(model, devices: list[int]) -> list[DeviceJob]:
    tok = tokenizer(MAX_LENGTH)
    out = []
    for d in devices:  # devices of different sizes: 3 to 9 texts
        texts = REVIEWS[d % 4: d % 4 + 3 + 2 * (d % 4)]
        enc = tok(texts)
        labels = torch.tensor([(len(t) + d) % 2 for t in texts])
        out.append(DeviceJob(model, enc["input_ids"], enc["attention_mask"], labels, seed=100 + d))
    return out


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_device_gets_the_same_bits_alone_and_in_any_stack():
    model = student()
    alone = {d: personalize_stacked(jobs(model, [d]), epochs=2, lr=0.01, batch_size=4, max_length=MAX_LENGTH)[0]
             for d in range(5)}
    # devices 0 and 4 hold the same texts, so they share a stack: each in either place of it, and with
    # stacks capped at 2 devices, in a stack with another device or alone
    for order, cap in (([3, 0, 4, 1, 2], 32), ([2, 1, 4, 0, 3], 32), ([0, 4, 1, 2, 3], 1), ([4, 0, 2, 3, 1], 2)):
        stacked = personalize_stacked(jobs(model, order), epochs=2, lr=0.01, batch_size=4, max_length=MAX_LENGTH,
                                      max_stack=cap)
        for d, trained in zip(order, stacked):
            for name, value in weights(trained).items():
                assert torch.equal(value, weights(alone[d])[name]), (order, d, name)
    assert not torch.equal(weights(stacked[0])["classifier.weight"], model.classifier.weight)  # it trained
    assert not torch.equal(weights(stacked[0])["classifier.weight"], weights(stacked[1])["classifier.weight"])


def _reference(model, job: DeviceJob, epochs: int, lr: float, batch_size: int):
    """torch's packed GRU and torch.optim.Adam on the same batches (no dropout)."""
    model = copy.deepcopy(model)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(job.seed)
    for _ in range(epochs):
        order = torch.randperm(len(job.labels), generator=generator)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(model(job.input_ids[index], job.attention_mask[index]), job.labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def test_the_stacked_model_is_the_students_computation():
    model = student(dropout=0.0)
    devices = jobs(model, [0, 1, 2])
    stacked = personalize_stacked(devices, epochs=3, lr=0.01, batch_size=4, max_length=MAX_LENGTH)
    for job, trained in zip(devices, stacked):
        reference = weights(_reference(model, job, 3, 0.01, 4))
        for name, value in weights(trained).items():
            assert torch.allclose(value, reference[name], atol=5e-5, rtol=1e-4), name


def test_only_the_supported_setting_is_eligible():
    plain = TrainSettings(epochs=2, lr=0.01, batch_size=4)
    assert eligible(student(), plain)
    assert not eligible(student(), TrainSettings(epochs=2, lr=0.01, batch_size=4, adversarial=True))
    assert not eligible(student(), TrainSettings(epochs=2, lr=0.01, batch_size=4, optimizer="sgd"))
    other = build_student("bigru_attention", num_labels=2, vocab_size=100, embedding={"kind": "pruned", "dim": 8})
    assert not eligible(other, plain)
    narrow = build_student("bigru_attention", num_labels=2, vocab_size=100, hidden=12,
                           embedding={"kind": "factorized", "dim": 8, "rank": 4})
    assert not eligible(narrow, plain)  # a width the vector kernels do not fill


def test_devices_stack_only_with_devices_of_their_own_shape():
    from fedrobust.federated.stacked_personalization import device_shape

    three, nine = jobs(student(), [0, 3])  # 3 and 9 texts
    assert device_shape(three, batch_size=4, max_length=MAX_LENGTH)[0] == 3
    assert device_shape(nine, batch_size=4, max_length=MAX_LENGTH)[0] == 4
    assert all(device_shape(j, 4, MAX_LENGTH)[1] % 8 == 0 for j in (three, nine))


def test_texts_longer_than_the_padding_length_are_refused():
    with pytest.raises(ValueError, match="above max_length"):
        personalize_stacked(jobs(student(), [0]), epochs=1, lr=0.01, batch_size=4, max_length=4)


# --- in a federation: personalize.engine: stacked ---------------------------------------------------

def _clients(path):
    import csv

    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_stacked_cohorts_match_one_device_per_node_and_differ_from_per_device(factorized_federation, tmp_path):
    from fedrobust.federated.simulate import simulate
    from tests.federated_helpers import sim_config

    data_dir, model_dir, _ = factorized_federation
    runs = {}
    for label, engine, per_node in (("stacked_1", "stacked", 1), ("stacked_3", "stacked", 3), ("per_device", "per_device", 3)):
        config = sim_config(data_dir, model_dir, algorithm="fedavg_ft", rounds=1, fraction_train=0.6,
                            personalize={"engine": engine}, simulation={"devices_per_node": per_node})
        simulate(config, tmp_path / label)
        runs[label] = _clients(tmp_path / label / "clients.csv")
    assert runs["stacked_1"] == runs["stacked_3"]
    phase = lambda rows, name: [r for r in rows if r["phase"] == name]  # noqa: E731
    assert phase(runs["stacked_3"], "global") == phase(runs["per_device"], "global")
    # another engine, other personalized models (different kernels and dropout draws): some figure moves
    differ = [(a["natural_acc"], a["loss"]) != (b["natural_acc"], b["loss"])
              for a, b in zip(phase(runs["stacked_3"], "personalized"), phase(runs["per_device"], "personalized"))]
    assert any(differ)


def test_the_engine_is_part_of_the_fingerprint_only_when_stacked(factorized_federation):
    from tests.federated_helpers import sim_config

    data_dir, model_dir, _ = factorized_federation
    default = sim_config(data_dir, model_dir)
    assert sim_config(data_dir, model_dir, personalize={"engine": "per_device"}).fingerprint() == default.fingerprint()
    assert sim_config(data_dir, model_dir, personalize={"engine": "stacked"}).fingerprint() != default.fingerprint()


def test_settings_and_students_the_engine_cannot_take_are_refused(factorized_federation, tmp_path):
    from fedrobust.errors import ConfigError
    from fedrobust.federated.failures import FederationError
    from fedrobust.federated.simulate import simulate
    from tests.federated_helpers import sim_config

    data_dir, model_dir, hashed_dir = factorized_federation
    with pytest.raises(ConfigError, match="personalize.engine stacked trains every weight"):
        sim_config(data_dir, model_dir, personalize={"engine": "stacked", "params": "head"})
    with pytest.raises(ConfigError, match="personalize.engine must be one of"):
        sim_config(data_dir, model_dir, personalize={"engine": "vmap"})
    config = sim_config(data_dir, hashed_dir, algorithm="fedavg_ft", rounds=0, personalize={"engine": "stacked"},
                        simulation={"devices_per_node": 5})
    with pytest.raises(FederationError, match="none of the 5 devices.*factorized embedding.*HashedEmbedding"):
        simulate(config, tmp_path / "hashed")


def test_the_benchmark_script_times_both_ways(factorized_federation, capsys, monkeypatch):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    import stacked_personalization_benchmark

    data_dir, model_dir, _ = factorized_federation
    monkeypatch.setattr(sys, "argv", ["stacked_personalization_benchmark.py", "--data", str(data_dir), "--model",
                                      str(model_dir), "--devices", "3", "--stack", "1", "3", "--epochs", "1",
                                      "--batch-size", "4", "--repeats", "1"])
    stacked_personalization_benchmark.main()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["devices"] == 3 and result["device_by_device_ms"] > 0 and result["stacked_3_ms"] > 0
    assert 0 <= result["stacked_test_acc"] <= 1 and 0 <= result["start_test_acc"] <= 1
