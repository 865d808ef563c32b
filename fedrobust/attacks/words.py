"""Word segmentation that matches TextAttack's, so fast attacks edit the same words.

TextAttack splits on whitespace, keeps runs of word characters plus ``'-_*@`` and trims those
extra characters from word ends. ``SplitText`` remembers the text between words so that a word
can be replaced while punctuation and spacing stay as they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Mapping

from fedrobust.resources import ensure_nltk_data

_EDGE_CHARS = "'-_*@"
_WORD_RUN = re.compile(r"[\w'\-_*@]+")


@dataclass(frozen=True)
class SplitText:
    """A text as alternating separators and words: seps[0] w[0] seps[1] ... w[n-1] seps[n]."""

    words: tuple[str, ...]
    seps: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "SplitText":
        spans: list[tuple[int, int]] = []
        for run in _WORD_RUN.finditer(text):  # a run never holds whitespace: no need to split on it first
            word = run.group()
            stripped = word.strip(_EDGE_CHARS)
            if not stripped:
                continue
            start = run.start() + (len(word) - len(word.lstrip(_EDGE_CHARS)))
            spans.append((start, start + len(stripped)))
        words = tuple(text[a:b] for a, b in spans)
        bounds = [0] + [x for span in spans for x in span] + [len(text)]
        seps = tuple(text[bounds[i] : bounds[i + 1]] for i in range(0, len(bounds), 2))
        return cls(words=words, seps=seps)

    @cached_property
    def text(self) -> str:
        return self.render(self.words)

    def render(self, words: tuple[str, ...] | list[str]) -> str:
        parts = [self.seps[0]]
        for word, sep in zip(words, self.seps[1:]):
            parts.append(word)
            parts.append(sep)
        return "".join(parts)

    def replaced(self, replacements: Mapping[int, str]) -> str:
        words = list(self.words)
        for index, word in replacements.items():
            words[index] = word
        return self.render(words)


def perturbed_fraction(original: tuple[str, ...] | list[str], current: tuple[str, ...] | list[str]) -> float:
    if not original:
        return 0.0
    changed = sum(1 for a, b in zip(original, current) if a != b)
    return changed / len(original)


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """NLTK's English stop words, read from the project's NLTK data dir (as TextAttack uses them)."""
    path = ensure_nltk_data() / "corpora" / "stopwords" / "english"
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())
