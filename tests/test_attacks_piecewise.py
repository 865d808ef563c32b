"""Piecewise token assembly must give exactly the tokenizer's ids, or step aside."""

from __future__ import annotations

import numpy as np

from fedrobust.attacks.char_edits import deepwordbug_candidates
from fedrobust.attacks.piecewise_tokens import PiecewiseEncoder
from fedrobust.attacks.words import SplitText
from tests.attacks_helpers import VOCABULARY, WordTokenizer
from tests.models_helpers import tokenizer as wordpiece_tokenizer

TEXTS = [
    "It's a well-made, 'quiet' film -- really! 10/10",
    "Long on twinkly-eyed close-ups and short on shame.",
    "naïve café owners (and their über-cool friends) can't save this",
    "If there was any doubt that Peter O'Fallon didn't have an original bone in his body, A Rumor of Angels "
    "should dispel it; it goes on and on and on well past the point where anyone still cares about it at all",
    "emoji 😀glued and 中文 characters",
]


def _tokenizer_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    batch = tokenizer(texts)
    return [[i for i, m in zip(ids, mask) if m] for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist())]


def test_assembled_ids_equal_the_wordpiece_tokenizer_on_edited_texts() -> None:
    tokenizer = wordpiece_tokenizer()  # max_length 24: the long text is truncated
    encoder = PiecewiseEncoder(tokenizer)
    assert encoder.enabled
    rng = np.random.default_rng(0)
    candidates = []
    for text in TEXTS:
        split = SplitText.from_text(text)
        for i, word in enumerate(split.words):
            for new in deepwordbug_candidates(word, rng) + ["[UNK]", ""]:
                words = list(split.words)
                words[i] = new
                candidates.append((split, words))
    assembled = encoder.encode(candidates)
    expected = _tokenizer_ids(tokenizer, [split.render(words) for split, words in candidates])
    assert assembled == expected
    assert encoder.assembled >= 0.75 * len(candidates)  # the fast path did the work
    batch = encoder.pad(assembled[:5])
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"].sum().item() == sum(len(a) for a in assembled[:5])


def test_tokenizers_without_a_layout_fall_back() -> None:
    tokenizer = WordTokenizer(VOCABULARY)
    encoder = PiecewiseEncoder(tokenizer)
    assert not encoder.enabled  # no special tokens around a text: the layout cannot be learned
    split = SplitText.from_text("the film was good")
    ids = encoder.encode([(split, ["a", "film", "was", "bad"])])
    assert ids == _tokenizer_ids(tokenizer, ["a film was bad"])
