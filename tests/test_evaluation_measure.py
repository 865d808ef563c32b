"""One evaluator: every stage's natural accuracy is the same function, and every attacked sample
comes from the one seeded sampler."""

from __future__ import annotations

import importlib

import pytest

import fedrobust.distill.measure as distill_measure
import fedrobust.distill.pipeline as distill_pipeline
import fedrobust.pipeline.stages.evaluate as evaluate_stage
import fedrobust.search.evaluator as search_evaluator
from fedrobust.data import ClientData
from fedrobust.evaluation import (
    AttackEvalConfig,
    DeviceAttackEvalConfig,
    ThreatModel,
    attack_metrics,
    evaluate_attack,
    evaluate_clients,
    evaluate_threats,
    measure,
    sample_indices,
    with_current_names,
)
from tests.attacks_helpers import LABELS, TEXTS, VOCABULARY, WordTokenizer, keyword_model

# the package exports a function named `measure`, which hides the module of that name as an attribute
evaluation_measure = importlib.import_module("fedrobust.evaluation.measure")

# one label flipped: the brittle model is right on all but one text, a ratio no float sums to exactly
NOISY_LABELS = [1 - LABELS[0], *LABELS[1:]]
EXPECTED = (len(TEXTS) - 1) / len(TEXTS)


@pytest.fixture()
def model_and_tokenizer():
    tokenizer = WordTokenizer(VOCABULARY)
    return keyword_model(tokenizer), tokenizer


def test_every_stage_reports_the_same_natural_accuracy(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    # the stages import the evaluator's functions, not copies of them
    assert distill_measure.accuracy is distill_pipeline.accuracy is evaluation_measure.accuracy
    assert search_evaluator.evaluate_attack is evaluate_attack
    assert evaluate_stage.evaluate_threats is evaluation_measure.evaluate_threats is evaluate_threats

    distill_number = distill_measure.accuracy(model, tokenizer, TEXTS, NOISY_LABELS)  # distill, teacher metrics.json
    _, summary = evaluate_attack(model, tokenizer, TEXTS, NOISY_LABELS, "fast_deepwordbug", examples=None, seed=0)
    device = measure(model, tokenizer, TEXTS, NOISY_LABELS, DeviceAttackEvalConfig(), seed=0)  # federated device phase
    search = search_evaluator.attacked_metrics(model, tokenizer, TEXTS, NOISY_LABELS,
                                               AttackEvalConfig(examples=None), seed=0, prefix="val")
    assert distill_number == EXPECTED
    assert summary["natural_acc"] == EXPECTED  # `fedrobust evaluate` and the run's evaluate stage
    assert device["natural_acc"] == EXPECTED
    assert search["val_natural_acc"] == search["val_natural_acc_attacked"] == EXPECTED


def test_attack_metrics_and_evaluate_attack_agree(model_and_tokenizer) -> None:
    model, tokenizer = model_and_tokenizer
    settings = AttackEvalConfig(attacks=[ThreatModel("fast_deepwordbug", word_budgets=[0.25])], examples=4)
    threat, budget = settings.primary
    _, summary = evaluate_attack(model, tokenizer, TEXTS, LABELS, threat.attack, examples=settings.examples, seed=5,
                                 max_queries=threat.max_queries, **threat.options(budget))
    numbers = attack_metrics(model, tokenizer, TEXTS, LABELS, settings, seed=5)
    label = "fast_deepwordbug@0.25"
    assert set(numbers) == {"adversarial_acc", "attack_success_rate", "n_attacked", "n_correct_attacked",
                            f"adversarial_acc[{label}]", f"attack_success_rate[{label}]"}
    for key in ("adversarial_acc", "attack_success_rate", "n_attacked"):
        assert numbers[key] == summary[key] == numbers.get(f"{key}[{label}]", summary[key])
    assert numbers["n_correct_attacked"] == summary["num_successful"] + summary["num_failed"]


def test_one_seeded_sampler_chooses_the_attacked_texts(model_and_tokenizer, monkeypatch) -> None:
    model, tokenizer = model_and_tokenizer
    seed, examples = 11, 3
    expected = [TEXTS[i] for i in sample_indices(len(TEXTS), examples, seed)]
    assert expected != TEXTS[:examples]  # a real sample, not the first texts

    records, _ = evaluate_attack(model, tokenizer, TEXTS, LABELS, "fast_deepwordbug", examples=examples, seed=seed)
    assert [r.text for r in records] == expected

    attacked: list[list[str]] = []
    attack_eval = importlib.import_module("fedrobust.evaluation.attack_eval")  # attack_metrics attacks through it
    real_build = attack_eval.build_attack

    def recording_build(*args, **kwargs):
        attack = real_build(*args, **kwargs)
        real_attack = attack.attack

        def record(texts, labels):
            attacked.append(list(texts))
            return real_attack(texts, labels)

        attack.attack = record
        return attack

    monkeypatch.setattr(attack_eval, "build_attack", recording_build)
    settings = AttackEvalConfig(attacks=[ThreatModel("fast_deepwordbug"), ThreatModel("fast_pwws")], examples=examples)
    attack_metrics(model, tokenizer, TEXTS, LABELS, settings, seed=seed)
    assert attacked == [expected, expected]  # each attack once (its smaller budget is read off the larger)

    client = ClientData("alice", [], [], TEXTS, LABELS)
    rows, _, _ = evaluate_clients(model, tokenizer, [client], per_client=examples, seed=seed)
    assert [r.record.text for r in rows] == expected


def test_old_metric_names_are_read_under_the_new_ones() -> None:
    old = {"attack": {"student": {"clean_acc": 0.9, "adv_acc": 0.2, "adv_acc_ci95": [0.1, 0.3]}}, "n_adv": 4,
           "rows": [{"clean_acc_ci95_low": 0.8, "val_adv_acc": 0.1}]}
    assert with_current_names(old) == {
        "attack": {"student": {"natural_acc": 0.9, "adversarial_acc": 0.2, "adversarial_acc_ci95": [0.1, 0.3]}},
        "n_attacked": 4, "rows": [{"natural_acc_ci95_low": 0.8, "val_adv_acc": 0.1}]}
