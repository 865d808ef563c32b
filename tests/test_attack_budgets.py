"""Perturbation budgets: every attack takes a word budget (and DeepWordBug an edit distance), the
records say how many words changed, and a smaller word budget's records can be derived from a run
at a larger one for the fast attacks, exactly as a rerun gives them."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import torch

from fedrobust.attacks import FAILED, SKIPPED, SUCCESSFUL, AttackRecord, build_attack
from fedrobust.attacks.budgets import records_within, word_limit
from fedrobust.attacks.word_swap_attack import WordSwapAttack
from fedrobust.attacks.word_swaps import CandidatesPerWord, ModifiableWords, Transformation
from fedrobust.attacks.words import SplitText
from fedrobust.data.sources import load_source
from fedrobust.errors import ConfigError, DataError
from fedrobust.resources import has_wordnet
from tests.attacks_helpers import LABELS, TEXTS, VOCABULARY, BagOfWordsClassifier, WordTokenizer, keyword_model

FAST_ATTACKS = ["fast_deepwordbug", "fast_pwws", "fast_hotflip"]


def _needs_wordnet(name: str) -> None:
    if "pwws" in name and not has_wordnet():
        pytest.skip("WordNet not installed")


def _words_changed(record: AttackRecord) -> int:
    """Word positions that differ between the original and the adversarial text, a word gained
    or lost counting as changed."""
    old, new = SplitText.from_text(record.text).words, SplitText.from_text(record.perturbed_text).words
    return sum(a != b for a, b in zip(old, new)) + abs(len(old) - len(new))


def _accuracies(records: list[AttackRecord]) -> tuple[float, float]:
    """(natural accuracy, accuracy under attack)."""
    natural = sum(r.clean_pred == r.label for r in records) / len(records)
    adversarial = sum(r.adv_pred == r.label for r in records) / len(records)
    return natural, adversarial


@pytest.fixture(scope="module")
def tokenizer() -> WordTokenizer:
    return WordTokenizer(VOCABULARY)


@pytest.fixture(scope="module")
def reviews() -> tuple[BagOfWordsClassifier, WordTokenizer, list[str], list[int]]:
    """A bag-of-words model trained in a few seconds on Rotten Tomatoes snippets, and 30 held-out
    snippets: real texts of 3 to 40 words, of which some flip after one word and some need many."""
    ds = load_source("rotten_tomatoes")
    texts, labels = ds["text"], ds["label"]
    train = range(0, len(texts), 4)
    vocabulary = sorted({w for i in train for w in re.findall(r"\w+", texts[i].lower())})
    tok = WordTokenizer(vocabulary, max_length=64)
    torch.manual_seed(0)
    model = BagOfWordsClassifier(tok.vocab_size, dim=4)
    batch = tok([texts[i] for i in train])
    targets = torch.tensor([labels[i] for i in train])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), targets).backward()
        optimizer.step()
    held_out = range(1, len(texts), 397)[:30]
    return model.eval(), tok, [texts[i] for i in held_out], [labels[i] for i in held_out]


# -- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_words, max_words, fraction, expected",
    [
        (30, None, None, None),
        (30, None, 0.1, 3),  # not 4: 0.1 * 30 is 3.0000000000000004 in floating point
        (31, None, 0.1, 4),  # ceil(3.1)
        (4, None, 0.1, 1),  # a short text still gets a word
        (7, None, 0.0, 0),
        (7, None, 1.0, 7),
        (0, None, 0.5, 0),
        (10, 2, 0.5, 2),  # the smaller limit applies
        (10, 7, 0.5, 5),
        (10, 0, None, 0),
        (10, 12, None, 12),
    ],
)
def test_word_limit_is_the_smaller_of_the_count_and_the_rounded_up_fraction(
    n_words: int, max_words: int | None, fraction: float | None, expected: int | None
) -> None:
    assert word_limit(n_words, max_words, fraction) == expected


def test_modifiable_words_stop_at_the_texts_limit() -> None:
    modifiable = ModifiableWords(frozenset({"a"}), max_word_fraction=0.25)
    words = ["a", "b", "c", "d", "e", "f", "g", "h"]
    assert modifiable.limit(len(words)) == 2
    assert modifiable(words, frozenset({1})) == [2, 3, 4, 5, 6, 7]
    assert modifiable(words, frozenset({1, 2})) == []
    assert ModifiableWords(frozenset(), max_words=3, max_word_fraction=0.25).limit(40) == 3


@pytest.mark.parametrize("name", FAST_ATTACKS + ["textattack:deepwordbug", "textattack:pruthi", "textattack:pwws"])
@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_words": -1}, "max_words must be a whole number of words >= 0"),
        ({"max_words": 1.5}, "max_words must be a whole number"),
        ({"max_word_fraction": 1.5}, r"max_word_fraction must be a fraction of the text's words in \[0, 1\]"),
        ({"max_word_fraction": -0.1}, "max_word_fraction must be"),
        ({"max_word_fraction": float("nan")}, "max_word_fraction must be"),
    ],
)
def test_an_impossible_word_budget_is_a_config_error(
    tokenizer: WordTokenizer, name: str, options: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):  # before any TextAttack import or WordNet check
        build_attack(name, keyword_model(tokenizer), tokenizer, **options)


@pytest.mark.parametrize("name", ["fast_deepwordbug", "textattack:deepwordbug"])
@pytest.mark.parametrize("distance", [-1, 2.5])
def test_an_impossible_edit_distance_is_a_config_error(tokenizer: WordTokenizer, name: str, distance: float) -> None:
    with pytest.raises(ConfigError, match="max_edit_distance must be a whole number of character edits >= 0"):
        build_attack(name, keyword_model(tokenizer), tokenizer, max_edit_distance=distance)


def test_records_within_checks_its_budget_and_its_records() -> None:
    with pytest.raises(ConfigError, match="max_word_fraction"):
        records_within([], max_word_fraction=2.0)
    old = AttackRecord("a good film", 1, 1, 0, SUCCESSFUL, 5, 1 / 3, "a bad film")  # no word counts
    with pytest.raises(DataError, match="no word counts"):
        records_within([old], max_words=0)


# -- the fast attacks honour it -----------------------------------------------------------------


@pytest.mark.parametrize("name", FAST_ATTACKS)
@pytest.mark.parametrize("budget", [{"max_words": 0}, {"max_word_fraction": 0.0}])
def test_a_budget_of_no_words_changes_nothing(tokenizer: WordTokenizer, name: str, budget: dict) -> None:
    _needs_wordnet(name)
    model = keyword_model(tokenizer, keyword="good")
    unbounded = build_attack(name, model, tokenizer, seed=0, max_words=None).attack(TEXTS, LABELS)
    assert any(r.result == SUCCESSFUL for r in unbounded)  # the model breaks when allowed to
    records = build_attack(name, model, tokenizer, seed=0, **budget).attack(TEXTS, LABELS)
    natural, adversarial = _accuracies(records)
    assert natural == adversarial == 1.0
    for record in records:
        assert record.result == FAILED, record
        assert record.perturbed_text == record.text and record.words_changed == 0


@pytest.mark.parametrize("name", FAST_ATTACKS)
@pytest.mark.parametrize("search", ["greedy_wir", "beam"])
def test_one_word_budget_changes_at_most_one_word(reviews, name: str, search: str) -> None:
    _needs_wordnet(name)
    model, tok, texts, labels = reviews
    unbounded = build_attack(name, model, tok, seed=0, search=search, max_words=None).attack(texts, labels)
    assert max(_words_changed(r) for r in unbounded) > 1  # without the budget some need more
    records = build_attack(name, model, tok, seed=0, search=search, max_words=1).attack(texts, labels)
    assert any(r.result == SUCCESSFUL for r in records)
    for record in records:
        assert _words_changed(record) == record.words_changed <= 1, record


@pytest.mark.parametrize(
    "name, options",
    [
        ("fast_deepwordbug", {}),
        ("fast_deepwordbug", {"search": "beam"}),
        ("fast_pwws", {}),
        ("fast_pwws", {"max_queries": 80}),  # the query budget runs out on the same path too
        ("fast_hotflip", {"max_words": None}),  # lift the recipe's 2 words so that the fraction decides
    ],
)
def test_a_smaller_budget_derived_from_a_larger_run_equals_a_rerun(reviews, name: str, options: dict) -> None:
    _needs_wordnet(name)
    model, tok, texts, labels = reviews
    assert build_attack(name, model, tok, **options).nested_word_budgets
    large = build_attack(name, model, tok, seed=1, max_word_fraction=0.5, **options).attack(texts, labels)
    rerun = build_attack(name, model, tok, seed=1, max_word_fraction=0.05, **options).attack(texts, labels)
    derived = records_within(large, max_word_fraction=0.05)
    # the derivation is put to the test: some successes at 0.5 need more words than 0.05 allows
    assert any(a.result == SUCCESSFUL and d.result == FAILED for a, d in zip(large, derived))
    assert any(d.result == SUCCESSFUL for d in derived)
    for d, r in zip(derived, rerun):
        assert (d.result, d.adv_pred, d.clean_pred) == (r.result, r.adv_pred, r.clean_pred), (d, r)
        if r.result != FAILED:  # a failed search's partial text is not recoverable (see records_within)
            assert (d.perturbed_text, d.words_changed, d.perturbed_fraction) == (
                r.perturbed_text, r.words_changed, r.perturbed_fraction
            ), (d, r)
        limit = word_limit(r.words_total, None, 0.05)
        assert d.words_changed <= limit and r.words_changed <= limit
    assert _accuracies(derived) == _accuracies(rerun)


def test_records_within_only_downgrades_what_exceeds_the_limit() -> None:
    records = [
        AttackRecord("a b c d", 1, 1, 0, SUCCESSFUL, 9, 0.5, "a x y d", words_changed=2, words_total=4),
        AttackRecord("a b c d", 1, 1, 0, SUCCESSFUL, 9, 0.25, "a x c d", words_changed=1, words_total=4),
        AttackRecord("a b c d", 1, 1, 1, FAILED, 9, 0.75, "x y z d", words_changed=3, words_total=4),
        AttackRecord("a b c d", 1, 0, 0, SKIPPED, 1, 0.0, "a b c d", words_changed=0, words_total=4),
    ]
    downgraded, kept, failed, skipped = records_within(records, max_word_fraction=0.25)
    assert downgraded == AttackRecord("a b c d", 1, 1, 1, FAILED, 9, 0.0, "a b c d", words_changed=0, words_total=4)
    assert failed == AttackRecord("a b c d", 1, 1, 1, FAILED, 9, 0.0, "a b c d", words_changed=0, words_total=4)
    assert (kept, skipped) == (records[1], records[3])
    assert records_within(records) == records


# -- the records count the words --------------------------------------------------------------


class TableSwaps(WordSwapAttack):
    """Candidates from a fixed table, so the changed words are known in advance."""

    name = "table_swaps"

    def transformation(self) -> Transformation:
        return CandidatesPerWord(lambda word, rng: {"good": ["fine"], "story": ["tale"]}.get(word, []))


def test_records_count_changed_and_total_words(tokenizer: WordTokenizer) -> None:
    model = keyword_model(tokenizer, keyword="good")
    records = TableSwaps(model, tokenizer).attack(["a good story, with a clever script", "an awful mess"], [1, 0])
    assert [(r.result, r.words_changed, r.words_total) for r in records] == [(SUCCESSFUL, 1, 7), (FAILED, 0, 3)]
    assert records[0].perturbed_text == "a fine story, with a clever script"
    assert records[0].perturbed_fraction == pytest.approx(1 / 7)


@pytest.mark.parametrize("name", FAST_ATTACKS)
def test_fast_records_count_the_words_that_differ(reviews, name: str) -> None:
    _needs_wordnet(name)
    model, tok, texts, labels = reviews
    records = build_attack(name, model, tok, seed=0).attack(texts, labels)
    assert Counter(r.result for r in records)[SUCCESSFUL] > 0
    for record in records:
        assert record.words_changed == _words_changed(record), record
        assert record.words_total == len(SplitText.from_text(record.text).words)


# -- TextAttack recipes -----------------------------------------------------------------------


def test_textattack_recipes_take_the_budget_as_their_constraint(tokenizer: WordTokenizer) -> None:
    from textattack.constraints.overlap import LevenshteinEditDistance, MaxWordsPerturbed

    model = keyword_model(tokenizer, keyword="good")
    attack = build_attack("textattack:deepwordbug", model, tokenizer, max_word_fraction=0.2, max_edit_distance=5)
    constraints = attack.textattack_attack.constraints
    (budget,) = [c for c in constraints if isinstance(c, MaxWordsPerturbed)]
    (distance,) = [c for c in constraints if isinstance(c, LevenshteinEditDistance)]
    assert (budget.max_num_words, budget.max_percent, distance.max_edit_distance) == (None, 0.2, 5)
    assert not attack.nested_word_budgets
    pruthi = build_attack("textattack:pruthi", model, tokenizer, max_words=3).textattack_attack.constraints
    assert [c.max_num_words for c in pruthi if isinstance(c, MaxWordsPerturbed)] == [3]  # in place of the recipe's 1

    records = attack.attack(TEXTS, LABELS)
    assert any(r.result == SUCCESSFUL for r in records)
    for record in records:
        assert record.words_changed == _words_changed(record) <= word_limit(record.words_total, None, 0.2)
        assert record.words_total == len(SplitText.from_text(record.text).words)


@pytest.mark.parametrize("name", ["textattack:deepwordbug", "textattack:pwws", "textattack:hotflip_offline"])
def test_textattack_budget_of_no_words_changes_nothing(tokenizer: WordTokenizer, name: str) -> None:
    # TextAttack's own MaxWordsPerturbed reads max_num_words=0 as no limit; the budget must not
    _needs_wordnet(name)
    model = keyword_model(tokenizer, keyword="good")
    records = build_attack(name, model, tokenizer, seed=0, max_words=0).attack(TEXTS, LABELS)
    natural, adversarial = _accuracies(records)
    assert natural == adversarial == 1.0
    assert all(r.result == FAILED and r.perturbed_text == r.text and r.words_changed == 0 for r in records)
