"""The evaluator: aggregates and intervals, per-client sampling, explanation agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fedrobust.attacks import AttackRecord
from fedrobust.data import ClientData
from fedrobust.evaluation import (
    bootstrap_mean_interval,
    evaluate_attack,
    evaluate_clients,
    explanation_agreement,
    grad_x_input,
    sample_indices,
    spearman,
    summarize_attack,
    top_k_overlap,
    wilson_interval,
)
from tests.attacks_helpers import LABELS, TEXTS, VOCABULARY, BagOfWordsClassifier, WordTokenizer, keyword_model


def _record(result: str, label: int = 1, clean: int = 1, adv: int = 1, queries: int = 10, frac: float = 0.0) -> AttackRecord:
    return AttackRecord("t", label, clean, adv, result, queries, frac, "t")


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_bootstrap_interval_brackets_the_mean() -> None:
    values = np.random.default_rng(0).normal(5.0, 1.0, size=200)
    low, high = bootstrap_mean_interval(values)
    assert low < values.mean() < high and high - low < 0.5


def test_summary_follows_textattack_definitions() -> None:
    records = (
        [_record("successful", adv=0, queries=20, frac=0.2)] * 3
        + [_record("failed", queries=40)] * 5
        + [_record("skipped", clean=0, adv=0, queries=1)] * 2
    )
    summary = summarize_attack(records, elapsed_s=2.0)
    assert summary["natural_acc"] == pytest.approx(0.8)
    assert summary["adversarial_acc"] == pytest.approx(0.5)
    assert summary["n_attacked"] == 10
    assert summary["attack_success_rate"] == pytest.approx(3 / 8)
    assert summary["mean_queries"] == pytest.approx((3 * 20 + 5 * 40) / 8)  # skipped ones excluded
    assert summary["mean_perturbed_fraction"] == pytest.approx(0.2)
    assert summary["examples_per_s"] == pytest.approx(5.0)
    low, high = summary["adversarial_acc_ci95"]
    assert low < 0.5 < high


def test_evaluate_attack_on_the_brittle_model() -> None:
    tokenizer = WordTokenizer(VOCABULARY)
    records, summary = evaluate_attack(keyword_model(tokenizer), tokenizer, TEXTS, LABELS, attack="fast_deepwordbug")
    assert len(records) == len(TEXTS)
    for key in ("natural_acc", "adversarial_acc", "attack_success_rate", "examples_per_s", "examples_per_cpu_s",
                "mean_queries"):
        assert key in summary
    assert summary["natural_acc"] == 1.0 and summary["adversarial_acc"] == 0.5 and summary["attack_success_rate"] == 0.5
    _, subset = evaluate_attack(keyword_model(tokenizer), tokenizer, TEXTS, LABELS, examples=4, seed=3)
    assert subset["n_attacked"] == 4


def test_sample_indices_is_seeded_and_ordered() -> None:
    a, b = sample_indices(100, 10, seed=1), sample_indices(100, 10, seed=1)
    assert a == b == sorted(a) and len(set(a)) == 10
    assert sample_indices(5, 10, seed=0) == [0, 1, 2, 3, 4]


def test_evaluate_clients_samples_each_client() -> None:
    tokenizer = WordTokenizer(VOCABULARY)
    clients = [
        ClientData("alice", [], [], TEXTS[:3], LABELS[:3]),  # positives: all attacked successfully
        ClientData("bob", [], [], TEXTS[3:], LABELS[3:]),  # negatives: all fail
    ]
    rows, per_client, summary = evaluate_clients(keyword_model(tokenizer), tokenizer, clients, per_client=2, seed=0)
    assert [r.client_id for r in rows] == ["alice", "alice", "bob", "bob"]
    by_id = {s["client_id"]: s for s in per_client}
    assert by_id["alice"]["adversarial_acc"] == 0.0 and by_id["bob"]["adversarial_acc"] == 1.0
    assert by_id["alice"]["natural_acc"] == 1.0 and by_id["bob"]["natural_acc"] == 1.0
    assert summary["num_clients"] == 2 and summary["n_attacked"] == 4
    assert rows[0].to_row()["client_id"] == "alice"


def test_rank_statistics() -> None:
    x = np.array([0.1, 0.5, 0.3, 0.9])
    assert spearman(x, x * 10) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.9487, abs=1e-4)
    assert math.isnan(spearman(np.ones(3), x[:3]))
    assert top_k_overlap(x, x, 2) == 1.0
    assert top_k_overlap(x, -x, 2) == 0.0


def test_grad_x_input_puts_the_attribution_on_the_keyword() -> None:
    tokenizer = WordTokenizer(VOCABULARY)
    attributions = grad_x_input(keyword_model(tokenizer), tokenizer, TEXTS[:1])
    tokens = tokenizer.convert_ids_to_tokens(attributions.input_ids[0])
    scores = attributions.scores[0]
    assert tokens[int(scores.abs().argmax())] == "good"
    assert torch.count_nonzero(scores) == 1  # every other token has a zero embedding


def test_explanation_agreement_self_and_other() -> None:
    tokenizer = WordTokenizer(VOCABULARY)
    torch.manual_seed(0)
    model = BagOfWordsClassifier(tokenizer.vocab_size, dim=8)
    rows, summary = explanation_agreement(model, model, tokenizer, TEXTS, k=3)
    assert summary["mean_spearman"] == pytest.approx(1.0) and summary["mean_top3_overlap"] == 1.0
    other = BagOfWordsClassifier(tokenizer.vocab_size, dim=8)
    _, different = explanation_agreement(model, other, tokenizer, TEXTS, k=3)
    assert different["mean_spearman"] < 0.9
    assert len(rows) == len(TEXTS) and rows[0]["num_tokens"] == len(TEXTS[0].split())


def test_chance_top_k_is_the_overlap_of_unrelated_rankings() -> None:
    from fedrobust.evaluation.agreement import chance_top_k, top_k_overlap

    assert chance_top_k([3, 20], k=5) == pytest.approx((1.0 + 5 / 20) / 2)  # a short text overlaps fully
    rng = np.random.default_rng(0)
    measured = np.mean([top_k_overlap(rng.random(20), rng.random(20), 5) for _ in range(4000)])
    assert measured == pytest.approx(chance_top_k([20], k=5), abs=0.01)
    tokenizer = WordTokenizer(VOCABULARY)
    _, summary = explanation_agreement(BagOfWordsClassifier(tokenizer.vocab_size, dim=8),
                                       BagOfWordsClassifier(tokenizer.vocab_size, dim=8), tokenizer, TEXTS, k=3)
    assert summary["chance_top3_overlap"] == pytest.approx(np.mean([min(3, len(t.split())) / len(t.split()) for t in TEXTS]))
