"""Attacks on hand-built models whose outcome is known: brittle keyword model, constant model."""

from __future__ import annotations

import pytest
import torch

from fedrobust.attacks import ATTACKS, build_attack
from fedrobust.errors import ConfigError, ResourceUnavailableError
from fedrobust.resources import has_wordnet
from tests.attacks_helpers import (
    LABELS,
    TEXTS,
    VOCABULARY,
    BagOfWordsClassifier,
    WordTokenizer,
    constant_model,
    keyword_model,
)

FAST_ATTACKS = ["fast_deepwordbug", "fast_pwws", "fast_hotflip"]
TEXTATTACK_ATTACKS = ["textattack:deepwordbug", "textattack:pwws", "textattack:pruthi", "textattack:hotflip_offline"]


def _needs_wordnet(name: str) -> None:
    if "pwws" in name and not has_wordnet():
        pytest.skip("WordNet not installed (apt-get install wordnet-base wordnet-sense-index)")


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer(VOCABULARY)


def test_wrapper_returns_the_models_logits(tokenizer: WordTokenizer) -> None:
    from fedrobust.attacks.textattack_wrapper import textattack_wrapper

    model = keyword_model(tokenizer)
    batch = tokenizer(TEXTS)
    expected = model(batch["input_ids"], batch["attention_mask"])
    got = textattack_wrapper(model, tokenizer, batch_size=4)(TEXTS)
    torch.testing.assert_close(got, expected)
    assert got.argmax(dim=1).tolist() == LABELS


@pytest.mark.parametrize("name", FAST_ATTACKS + TEXTATTACK_ATTACKS)
def test_attack_breaks_a_brittle_keyword_model(tokenizer: WordTokenizer, name: str) -> None:
    _needs_wordnet(name)
    model = keyword_model(tokenizer, keyword="good")
    records = build_attack(name, model, tokenizer, seed=0).attack(TEXTS, LABELS)
    assert [r.clean_pred for r in records] == LABELS
    for record in records:
        if record.label == 1:  # everything hinges on "good": changing it flips the prediction
            assert record.result == "successful", record
            assert record.adv_pred == 0
            assert "good" not in record.perturbed_text.lower().split()
            assert 0 < record.perturbed_fraction <= 0.5
        elif "hotflip" in name:  # the gradient points straight at the keyword
            assert record.result == "successful", record
            assert "good" in record.perturbed_text.split()
        else:  # misspellings and synonyms cannot create "good", so the negatives hold
            assert record.result == "failed", record
            assert record.adv_pred == 0
        assert record.queries >= 1


@pytest.mark.parametrize("name", FAST_ATTACKS + TEXTATTACK_ATTACKS)
def test_constant_model_gives_skipped_and_failed(tokenizer: WordTokenizer, name: str) -> None:
    _needs_wordnet(name)
    model = constant_model(tokenizer, label=0)
    records = build_attack(name, model, tokenizer, seed=0).attack(TEXTS, LABELS)
    for record, label in zip(records, LABELS):
        assert record.clean_pred == record.adv_pred == 0
        assert record.result == ("skipped" if label == 1 else "failed")
        if label == 1:
            assert record.queries == 1 and record.perturbed_text == record.text


@pytest.mark.parametrize("name", ["fast_deepwordbug", "fast_pwws", "textattack:deepwordbug"])
def test_query_budget_is_respected(tokenizer: WordTokenizer, name: str) -> None:
    _needs_wordnet(name)
    model = keyword_model(tokenizer)
    records = build_attack(name, model, tokenizer, max_queries=3, seed=0).attack(TEXTS, LABELS)
    assert max(r.queries for r in records) <= 3
    # three queries are not enough to rank the words of any example, so nothing succeeds
    assert {r.result for r in records} == {"failed"}


def test_fast_pwws_matches_textattack_query_counts(tokenizer: WordTokenizer) -> None:
    _needs_wordnet("pwws")
    model = keyword_model(tokenizer)
    fast = build_attack("fast_pwws", model, tokenizer).attack(TEXTS, LABELS)
    reference = build_attack("textattack:pwws", model, tokenizer).attack(TEXTS, LABELS)
    assert [r.queries for r in fast] == [r.queries for r in reference]
    assert [r.result for r in fast] == [r.result for r in reference]


def test_fast_hotflip_matches_its_textattack_counterpart(tokenizer: WordTokenizer) -> None:
    torch.manual_seed(0)
    model = BagOfWordsClassifier(tokenizer.vocab_size, dim=4).eval()
    labels = model(**tokenizer(TEXTS)).argmax(dim=1).tolist()  # attack every example
    fast = build_attack("fast_hotflip", model, tokenizer, top_n=3, beam_width=2).attack(TEXTS, labels)
    reference = build_attack("textattack:hotflip_offline", model, tokenizer, top_n=3, beam_width=2).attack(TEXTS, labels)
    assert [(r.result, r.queries, r.perturbed_text) for r in fast] == [
        (r.result, r.queries, r.perturbed_text) for r in reference
    ]


def test_recipe_needing_a_download_names_what_is_missing(tokenizer: WordTokenizer) -> None:
    model = keyword_model(tokenizer)
    with pytest.raises(ResourceUnavailableError, match="Universal Sentence Encoder"):
        build_attack("textattack:textfooler", model, tokenizer)
    with pytest.raises(ResourceUnavailableError, match="bert-base-uncased"):
        build_attack("textattack:bae", model, tokenizer)
    with pytest.raises(ConfigError, match="unknown attack 'fast_nope'"):
        build_attack("fast_nope", model, tokenizer)
    assert {"textattack:deepwordbug", "textattack:pruthi", "textattack:pwws", "textattack:embedding_swap"} <= set(
        ATTACKS.names()
    )


def test_embedding_swap_assembled_from_textattack_parts(tokenizer: WordTokenizer) -> None:
    model = keyword_model(tokenizer)
    with torch.no_grad():  # other words get small vectors: neighbours exist, the keyword still decides
        others = torch.rand(tokenizer.vocab_size, 2, generator=torch.Generator().manual_seed(0)) * 0.2 - 0.1
        others[tokenizer.ids["good"]] = model.embedding.weight[tokenizer.ids["good"]]
        model.embedding.weight.copy_(others)
    attack = build_attack("textattack:embedding_swap", model, tokenizer, embedding_source="model", max_candidates=5)
    records = attack.attack(TEXTS, LABELS)
    assert [r.result for r in records] == ["successful" if y == 1 else "failed" for y in LABELS]
    assert all("good" not in r.perturbed_text.split() for r in records)
