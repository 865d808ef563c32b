"""WordNet synonyms of a word, as TextAttack's WordSwapWordNet proposes them (single words only)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fedrobust.attacks.nltk_env import require_wordnet
from fedrobust.attacks.words import SplitText


class WordNetSynonyms:
    """Callable word -> synonyms; loads WordNet from the project's NLTK dir on first use."""

    def __init__(self) -> None:
        require_wordnet()
        from nltk.corpus import wordnet

        self._wordnet = wordnet
        self._synonyms = lru_cache(maxsize=65536)(self._lookup)

    def _lookup(self, word: str) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for synset in self._wordnet.synsets(word, lang="eng"):
            for lemma in synset.lemma_names(lang="eng"):
                if lemma != word and "_" not in lemma and len(SplitText.from_text(lemma).words) == 1:
                    found[lemma] = None
        return tuple(found)

    def __call__(self, word: str, rng: np.random.Generator | None = None) -> list[str]:
        return list(self._synonyms(word))
