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


PIECES = ["wonderful", "wnoderful", "Xq", "", " ", ", ", "[UNK]", "naïve", "well-made", "O'Fallon", "12ab", "😀", "a" * 300, "qx" * 40]


def test_fast_token_ids_agree_with_the_tokenizer() -> None:
    tokenizer = wordpiece_tokenizer()
    fast = PiecewiseEncoder(tokenizer)._fast
    assert fast._texts is not None and fast._pieces is not None and fast.wordpiece  # the shortcuts are in use
    got = fast.pieces(PIECES)
    assert fast._pieces is not None and fast.wordpiece  # and passed their first check
    for mine, theirs in zip(got, _tokenizer_ids(tokenizer, PIECES)):
        if len(theirs) < tokenizer.max_length:
            assert mine == theirs
        else:  # cut at max_length by the tokenizer, not for pieces: both distrusted
            assert len(mine) >= tokenizer.max_length
    assert fast.texts(TEXTS) == _tokenizer_ids(tokenizer, TEXTS)  # whole texts: cut like the tokenizer
    assert fast._texts is not None
    hf_state = (tokenizer.hf.backend_tokenizer.truncation, tokenizer.hf.backend_tokenizer.padding)
    fast.texts(["another text"])
    assert (tokenizer.hf.backend_tokenizer.truncation, tokenizer.hf.backend_tokenizer.padding) == hf_state


class _RenamingTokenizer(type(wordpiece_tokenizer())):  # type: ignore[misc]
    """A tokenizer whose wrapper changes the text first, so its Rust backend alone disagrees."""

    def __call__(self, texts):
        return super().__call__([t.replace("o", "0") for t in texts])


def test_fast_token_ids_fall_back_when_a_shortcut_disagrees() -> None:
    tokenizer = _RenamingTokenizer(wordpiece_tokenizer().hf, max_length=24)
    fast = PiecewiseEncoder(tokenizer)._fast
    pieces, texts = ["wonderful", "good, bad"], ["so good", "a film"]
    assert fast.pieces(pieces) == _tokenizer_ids(tokenizer, pieces)
    assert fast.texts(texts) == _tokenizer_ids(tokenizer, texts)
    assert not fast.wordpiece and fast._pieces is None and fast._texts is None


def test_edit_distance_bound_keeps_exactly_the_swaps_within_the_limit() -> None:
    import editdistance

    from fedrobust.attacks.fast_deepwordbug import within_edit_distance

    rng = np.random.default_rng(1)
    split = SplitText.from_text(TEXTS[3])
    for limit in (1, 2, 3, 6):
        allowed = within_edit_distance(limit)
        words = list(split.words)
        for step in range(12):
            index = int(rng.integers(len(words)))
            new_words = deepwordbug_candidates(words[index], rng) + [words[index][::-1], "x"]
            expected = []
            for word in new_words:
                swapped = list(words)
                swapped[index] = word
                if editdistance.eval(split.text, split.render(swapped)) <= limit:
                    expected.append(word)
            assert allowed(split, words, index, new_words) == expected
            if expected:
                words[index] = expected[0]
