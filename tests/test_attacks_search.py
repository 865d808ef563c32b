"""The search-method slot: every fast recipe runs with every search method, and each method's
steps and query counts follow TextAttack's on a recipe whose candidates are known in advance."""

from __future__ import annotations

import pytest

from fedrobust.attacks import build_attack
from fedrobust.attacks.search import SEARCH_METHODS
from fedrobust.attacks.word_swap_attack import WordSwapAttack
from fedrobust.attacks.word_swaps import CandidatesPerWord, Transformation
from fedrobust.errors import ConfigError
from fedrobust.resources import has_wordnet
from tests.attacks_helpers import LABELS, TEXTS, VOCABULARY, WordTokenizer, keyword_model

TABLE = {"good": ["fine", "great"], "story": ["tale"], "clever": ["smart"]}


class TableSwaps(WordSwapAttack):
    """Candidates from a fixed table (the recipe a test can predict)."""

    name = "table_swaps"

    def transformation(self) -> Transformation:
        return CandidatesPerWord(lambda word, rng: list(TABLE.get(word, [])))


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer(VOCABULARY)


def test_search_methods_are_registered() -> None:
    assert SEARCH_METHODS.names() == ["beam", "greedy_wir"]


@pytest.mark.parametrize("recipe", ["fast_deepwordbug", "fast_pwws", "fast_hotflip"])
@pytest.mark.parametrize("search", ["beam", "greedy_wir"])
def test_every_recipe_runs_with_every_search_method(tokenizer: WordTokenizer, recipe: str, search: str) -> None:
    if "pwws" in recipe and not has_wordnet():
        pytest.skip("WordNet not installed")
    model = keyword_model(tokenizer, keyword="good")
    records = build_attack(recipe, model, tokenizer, seed=0, search=search).attack(TEXTS, LABELS)
    for record in records:
        if record.label == 1:  # everything hinges on "good": every search finds it
            assert record.result == "successful", record
            assert "good" not in record.perturbed_text.split()


# "a good story with a clever script": "a" and "with" are stop words, so good, story, clever and
# script may change; only "good" matters to the model.
TEXT, LABEL = "a good story with a clever script", 1


def test_greedy_ranks_the_words_then_swaps_the_most_important(tokenizer: WordTokenizer) -> None:
    attack = TableSwaps(keyword_model(tokenizer), tokenizer, search="greedy_wir")
    (record,) = attack.attack([TEXT], [LABEL])
    # clean + 4 leave-one-out texts + the 2 candidates of "good", ranked first
    assert (record.result, record.queries, record.perturbed_text) == ("successful", 7, "a fine story with a clever script")


def test_beam_scores_every_swap_of_the_text_at_once(tokenizer: WordTokenizer) -> None:
    attack = TableSwaps(keyword_model(tokenizer), tokenizer, search="beam", beam_width=2)
    (record,) = attack.attack([TEXT], [LABEL])
    # clean + good->fine, good->great, story->tale, clever->smart; ties keep the proposal order
    assert (record.result, record.queries, record.perturbed_text) == ("successful", 5, "a fine story with a clever script")


def test_beam_stops_at_the_query_budget(tokenizer: WordTokenizer) -> None:
    model = keyword_model(tokenizer, keyword="clever")
    attack = TableSwaps(model, tokenizer, search="beam", max_queries=3)
    (record,) = attack.attack([TEXT], [LABEL])
    # only good->fine and good->great fit the budget; neither touches "clever"
    assert (record.result, record.queries) == ("failed", 3)
    assert record.perturbed_text in {"a fine story with a clever script", "a great story with a clever script"}


def test_a_bad_search_choice_is_a_config_error(tokenizer: WordTokenizer) -> None:
    model = keyword_model(tokenizer)
    with pytest.raises(ConfigError, match="beam, greedy_wir"):
        build_attack("fast_deepwordbug", model, tokenizer, search="genetic")
    with pytest.raises(ConfigError, match="beam_width"):
        build_attack("fast_hotflip", model, tokenizer, beam_width=0)
