"""DP-SGD personalization (Opacus) on a tiny student: accounting, and what heavy noise does to
personalization and to membership inference."""

import copy
import math

import pytest
import torch

from fedrobust.errors import ConfigError
from fedrobust.evaluation.measure import natural_metrics
from fedrobust.federated.algorithms.proximal import proximal_pull
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.privacy.accounting import dp_report, epsilon_for
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.membership import MEMBERSHIP_ATTACKS, MembershipTarget, roc_auc
from fedrobust.privacy.opacus_compat import from_opacus, to_opacus
from tests.federated_helpers import sim_config, tiny_student, tokenizer

GOOD = ["great", "superb", "wonderful", "moving", "brilliant", "charming", "delightful", "gripping"]
BAD = ["awful", "boring", "dull", "clumsy", "tedious", "bland", "lifeless", "messy"]
FILLER = ["film", "plot", "cast", "story", "scene", "script", "director", "ending", "movie", "actor"]


def _reviews(n: int, seed: int, flip: bool = False) -> tuple[list[str], list[int]]:
    """Reviews whose sentiment word sets the label (flipped: a device that labels the other way)."""
    g = torch.Generator().manual_seed(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(torch.randint(2, (1,), generator=g))
        words = GOOD if label else BAD
        filler = [FILLER[int(i)] for i in torch.randint(len(FILLER), (3,), generator=g)]
        texts.append(f"the {filler[0]} was {words[int(torch.randint(len(words), (1,), generator=g))]} and the {filler[1]} {filler[2]}")
        labels.append(1 - label if flip else label)
    return texts, labels


def _random_texts(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Unrelated word salads with random labels: only memorization can fit them."""
    g = torch.Generator().manual_seed(seed)
    vocabulary = GOOD + BAD + FILLER + ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "zeta"]
    texts = [" ".join(vocabulary[int(i)] for i in torch.randint(len(vocabulary), (6,), generator=g)) for _ in range(n)]
    return texts, torch.randint(2, (n,), generator=g).tolist()


def _accuracy(model, texts, labels) -> float:
    return natural_metrics(model, tokenizer(), texts, labels)["natural_acc"]


def _loss_auc(model, members, nonmembers) -> float:
    target = MembershipTarget(model, tokenizer(), *members, *nonmembers)
    member_scores, nonmember_scores = target.split(MEMBERSHIP_ATTACKS.get("loss_threshold").scores(target))
    return roc_auc(member_scores, nonmember_scores)


@pytest.fixture(scope="module")
def global_model():
    """A tiny student that learned the usual sentiment rule."""
    model = tiny_student(seed=0, num_labels=2)
    texts, labels = _reviews(160, seed=1)
    train_locally(model, tokenizer(), texts, labels, TrainSettings(epochs=6, lr=2e-2, batch_size=16), seed=0)
    assert _accuracy(model, *_reviews(100, seed=2)) > 0.9
    return model


def test_reported_epsilon_is_opacus_accountant_for_the_same_steps():
    from opacus.accountants import RDPAccountant

    model = tiny_student(num_labels=2)
    texts, labels = _reviews(37, seed=3)
    settings = TrainSettings(epochs=2, lr=1e-2, batch_size=8, dp=DPConfig(noise_multiplier=1.3, delta=1e-4))
    out = train_locally(model, tokenizer(), texts, labels, settings, seed=0)
    report = dp_report(model)
    expected_steps = 2 * math.ceil(37 / 8)  # Opacus's loader: rate 1 / len(loader), len(loader) steps an epoch
    assert report.steps == out["steps"] == expected_steps
    assert report.sample_rate == pytest.approx(1 / math.ceil(37 / 8))
    accountant = RDPAccountant()
    for _ in range(expected_steps):
        accountant.step(noise_multiplier=1.3, sample_rate=1 / math.ceil(37 / 8))
    assert report.epsilon == pytest.approx(accountant.get_epsilon(delta=1e-4), rel=1e-9)
    assert 0 < report.epsilon < math.inf
    # more noise, less epsilon; no noise, no guarantee
    assert epsilon_for(2.6, report.sample_rate, expected_steps, 1e-4) < report.epsilon
    assert epsilon_for(0.0, report.sample_rate, expected_steps, 1e-4) == math.inf
    assert isinstance(model.gru, torch.nn.GRU)  # Opacus's DPGRU swapped back after training


def test_empty_poisson_batches_take_a_noise_only_step():
    model = tiny_student(num_labels=2)
    texts, labels = _reviews(4, seed=10)  # rate 1/4 with batch 1: about a third of the batches are empty
    settings = TrainSettings(epochs=10, lr=1e-2, batch_size=1, dp=DPConfig(noise_multiplier=1.0))
    out = train_locally(model, tokenizer(), texts, labels, settings, seed=0)
    assert out["steps"] == dp_report(model).steps == 40
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_target_epsilon_is_reached_not_exceeded():
    model = tiny_student(num_labels=2)
    texts, labels = _reviews(40, seed=4)
    settings = TrainSettings(epochs=3, lr=1e-2, batch_size=10, dp=DPConfig(target_epsilon=2.0))
    train_locally(model, tokenizer(), texts, labels, settings, seed=0)
    report = dp_report(model)
    assert 1.8 <= report.epsilon <= 2.0 and report.noise_multiplier > 0.5


def test_dpgru_swap_keeps_the_function():
    model = tiny_student(num_labels=2).eval()
    encoded = tokenizer()(["a wonderful film", "boring", "the plot was dull and the cast messy"])
    before = model(encoded["input_ids"], encoded["attention_mask"])
    assert to_opacus(model) == ["gru"] and type(model.gru).__name__ == "DPGRU"
    during = model(encoded["input_ids"], encoded["attention_mask"])
    assert from_opacus(model) == ["gru"] and type(model.gru) is torch.nn.GRU
    after = model(encoded["input_ids"], encoded["attention_mask"])
    assert torch.allclose(before, during, atol=1e-5) and torch.allclose(before, after, atol=1e-6)


def test_huge_noise_gives_no_personalization_gain_and_chance_membership_inference(global_model):
    # A device that labels the other way: fine-tuning helps it a lot without DP.
    train, test = _reviews(48, seed=5, flip=True), _reviews(48, seed=6, flip=True)
    before = _accuracy(global_model, *test)
    plain = copy.deepcopy(global_model)
    train_locally(plain, tokenizer(), *train, TrainSettings(epochs=10, lr=5e-2, batch_size=16), seed=0)
    noisy = copy.deepcopy(global_model)
    train_locally(noisy, tokenizer(), *train,
                  TrainSettings(epochs=10, lr=5e-2, batch_size=16, dp=DPConfig(noise_multiplier=1e4)), seed=0)
    assert _accuracy(plain, *test) - before > 0.3, "without DP the device should gain from personalizing"
    assert abs(_accuracy(noisy, *test) - before) <= 0.1
    assert dp_report(noisy).epsilon < 0.2  # RDP with the default orders bottoms out near 0.1
    assert abs(_loss_auc(noisy, train, test) - 0.5) < 0.12


def test_overfitted_model_leaks_membership_without_dp_and_not_with_huge_noise():
    members, nonmembers = _random_texts(64, seed=7), _random_texts(64, seed=8)
    start = tiny_student(seed=1, num_labels=2)
    overfit = copy.deepcopy(start)
    train_locally(overfit, tokenizer(), *members, TrainSettings(epochs=40, lr=2e-2, batch_size=16), seed=0)
    assert _accuracy(overfit, *members) > 0.9
    assert _loss_auc(overfit, members, nonmembers) > 0.75
    private = copy.deepcopy(start)
    train_locally(private, tokenizer(), *members,
                  TrainSettings(epochs=40, lr=2e-2, batch_size=16, dp=DPConfig(noise_multiplier=1e4)), seed=0)
    assert abs(_loss_auc(private, members, nonmembers) - 0.5) < 0.12


def test_proximal_pull_still_works_under_dp(global_model):
    train = _reviews(32, seed=9, flip=True)
    reference = {k: v.detach().clone() for k, v in global_model.state_dict().items()}

    def distance(mu):
        model = copy.deepcopy(global_model)
        train_locally(model, tokenizer(), *train, TrainSettings(epochs=3, lr=2e-2, batch_size=8,
                      dp=DPConfig(noise_multiplier=0.5)), seed=0, penalty=proximal_pull(reference, mu))
        return sum(float((p.detach() - reference[n]).pow(2).sum()) for n, p in model.named_parameters()) ** 0.5

    assert distance(50.0) < 0.5 * distance(0.0)


@pytest.mark.parametrize("change, message", [
    ({"personalize": {"dp": {"noise_multiplier": 1.0, "target_epsilon": 3.0}}}, "not both"),
    ({"personalize": {"dp": {"max_grad_norm": 0}}}, "personalize.dp.max_grad_norm"),
    ({"personalize": {"dp": {"noise_multiplier": 1.0}, "adversarial": True}}, "personalize.adversarial"),
    ({"personalize": {"dp": {"accountant": "moments"}}}, "personalize.dp.accountant"),
    ({"privacy": {"rounds": {"mode": "client_magic"}}}, "privacy.rounds.mode"),
    ({"privacy": {"rounds": {"mode": "server_adaptive"}}, "simulation": {"devices_per_node": 10}}, "devices_per_node: 1"),
    ({"privacy": {"membership": {"attacks": ["shadow_oracle"]}}}, "membership-inference attack"),
    ({"privacy": {"membership": {"attacks": ["reference_calibrated"], "reference_models": 0}}}, "reference_models"),
])
def test_privacy_config_errors_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        sim_config(tmp_path, tmp_path, **change)


@pytest.mark.parametrize("name, spec", [
    ("fastgrnn", {"embedding": {"kind": "hashed", "dim": 8, "num_buckets": 512}, "hidden": 8}),
    ("tiny_transformer", {"embedding": {"kind": "hashed", "dim": 8, "num_buckets": 512}, "layers": 1, "heads": 2,
                          "ff_dim": 16, "max_length": 32}),
])
def test_students_opacus_cannot_train_whole_get_a_clear_error_and_train_their_head(name, spec):
    import fedrobust.models.students  # noqa: F401
    from fedrobust.federated.parameter_groups import trainable_parameters
    from fedrobust.models.registry import build_student

    texts, labels = _reviews(16, seed=13)
    settings = TrainSettings(epochs=1, lr=1e-2, batch_size=8, dp=DPConfig(noise_multiplier=1.0))
    model = build_student(name, num_labels=2, vocab_size=tokenizer().vocab_size, **spec)
    with pytest.raises(ConfigError, match="personalize.params: head"):
        train_locally(model, tokenizer(), texts, labels, settings, seed=0)
    model = build_student(name, num_labels=2, vocab_size=tokenizer().vocab_size, **spec)
    train_locally(model, tokenizer(), texts, labels, settings, seed=0, parameters=trainable_parameters(model, "head"))
    assert 0 < dp_report(model).epsilon < math.inf
