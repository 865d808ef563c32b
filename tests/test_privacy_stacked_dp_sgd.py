"""Stacked DP-SGD (fedrobust.privacy.stacked_dp_sgd): each slice's gradient is the text's own gradient
from torch's packed model, one noise-free step is lr * mean_i clip(g_i), the noise has the configured
scale, and the engine is used exactly where it applies."""

import copy

import pytest
import torch

from fedrobust.federated.local_training import TrainSettings
from fedrobust.privacy import stacked_dp_sgd
from fedrobust.privacy.accounting import dp_report
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.dp_personalization import train_privately
from tests.dp_helpers import LABELS, TEXTS, single_text_gradients
from tests.federated_helpers import tokenizer

FACTORIZED = {"embedding": {"kind": "factorized", "dim": 16, "rank": 8}, "hidden": 16}


def _student(spec: dict = FACTORIZED, dropout: float = 0.0):
    import fedrobust.models.students  # noqa: F401
    from fedrobust.models.registry import build_student

    torch.manual_seed(3)
    return build_student("bigru_attention", num_labels=2, vocab_size=tokenizer().vocab_size, dropout=dropout, **spec)


def test_each_slice_gradient_is_the_texts_own_gradient():
    model = _student()
    expected = single_text_gradients(model)
    encoded = tokenizer()(TEXTS)
    grads, table_rows, rows, loss = stacked_dp_sgd.per_sample_gradients(
        model, encoded["input_ids"], encoded["attention_mask"], torch.tensor(LABELS))
    names = {p: name for name, p in model.named_parameters()}
    assert len(grads) == len(names) - 1  # every parameter but the table
    for p, per_text in grads.items():
        for i in range(len(TEXTS)):
            assert torch.allclose(per_text[i], expected[i][names[p]], atol=1e-6), (names[p], i)
    table_name = names[model.embedding.table.weight]
    for i in range(len(TEXTS)):
        full = torch.zeros_like(model.embedding.table.weight).index_add_(0, rows, table_rows[i])
        assert torch.allclose(full, expected[i][table_name], atol=1e-6), i
    assert float(loss) > 0


def test_noise_free_step_is_the_mean_of_each_texts_clipped_gradient(monkeypatch):
    """Noise 0, every text in the one Poisson batch (rate 1), SGD: the weights move by lr * mean_i clip(g_i),
    through train_privately's default engine (which must be the stacked one here)."""
    steps = []
    original = stacked_dp_sgd.StackedDPSGD.step
    monkeypatch.setattr(stacked_dp_sgd.StackedDPSGD, "step", lambda self, *a: steps.append(1) or original(self, *a))
    model = _student()
    start = copy.deepcopy(model)
    clip, lr = 0.05, 1.0
    grads = single_text_gradients(start)
    norms = [torch.sqrt(sum((g ** 2).sum() for g in per_text.values())) for per_text in grads]
    assert max(norms) > clip
    factors = [min(1.0, clip / float(n)) for n in norms]
    expected = {name: p.detach() - lr * sum(g[name] * f for g, f in zip(grads, factors)) / len(TEXTS)
                for name, p in start.named_parameters()}
    settings = TrainSettings(epochs=1, lr=lr, batch_size=len(TEXTS), optimizer="sgd")
    dp = DPConfig(noise_multiplier=0.0, max_grad_norm=clip)
    result = train_privately(model, tokenizer(), TEXTS, LABELS, settings, dp, seed=11)
    assert steps == [1] and result["steps"] == 1
    for name, p in model.named_parameters():
        assert torch.allclose(p.detach(), expected[name], atol=1e-6), name


def test_noise_has_the_configured_scale_on_every_element():
    """An empty Poisson batch is a noise-only step: grad = N(0, (sigma C)^2) / expected batch size, on all rows."""
    model = _student()
    sigma, clip, expected_batch = 2.0, 0.5, 4
    trainer = stacked_dp_sgd.StackedDPSGD(model, torch.optim.SGD(model.parameters(), lr=0.0), sigma, clip,
                                          expected_batch, torch.Generator().manual_seed(0),
                                          torch.Generator().manual_seed(1))
    empty = torch.zeros(0, 5, dtype=torch.long)
    assert trainer.step(empty, empty, torch.zeros(0, dtype=torch.long)) is None
    table_grad = model.embedding.table.weight.grad
    assert bool((table_grad != 0).all())
    assert abs(float(table_grad.std()) - sigma * clip / expected_batch) < 0.01


def test_same_accounting_as_opacus_and_similar_training():
    """Both engines record the same DP history (noise, rate, steps) and epsilon; their trainings differ
    only in random draws, so their losses are close."""
    settings = TrainSettings(epochs=3, lr=0.01, batch_size=2)
    dp = DPConfig(noise_multiplier=0.8, max_grad_norm=1.0)
    results, reports = {}, {}
    for engine in ("auto", "opacus"):
        model = _student(dropout=0.2)
        results[engine] = train_privately(model, tokenizer(), TEXTS, LABELS, settings, dp, seed=5, engine=engine)
        reports[engine] = dp_report(model)
    assert results["auto"]["steps"] == results["opacus"]["steps"] == 9
    assert results["auto"]["epsilon"] == pytest.approx(results["opacus"]["epsilon"], rel=1e-9)
    assert reports["auto"].history == reports["opacus"].history
    assert abs(results["auto"]["train_loss"] - results["opacus"]["train_loss"]) < 0.1


def test_engine_applies_only_to_the_whole_factorized_bigru():
    model = _student()
    assert stacked_dp_sgd.eligible(model, None)
    assert stacked_dp_sgd.eligible(model, list(model.parameters()))
    assert not stacked_dp_sgd.eligible(model, list(model.classifier.parameters()))  # a head: Opacus
    assert not stacked_dp_sgd.eligible(_student({"embedding": {"kind": "hashed", "dim": 8, "num_buckets": 64},
                                                 "hidden": 8}), None)
    with pytest.raises(ValueError, match="engine"):
        train_privately(model, tokenizer(), TEXTS, LABELS, TrainSettings(epochs=1, lr=0.1, batch_size=2),
                        DPConfig(noise_multiplier=1.0), seed=0, engine="fast")
