"""WordNet synonyms of a word, as TextAttack's WordSwapWordNet proposes them (single words only)."""

from __future__ import annotations

import threading
from functools import lru_cache

from fedrobust.attacks.nltk_env import require_wordnet
from fedrobust.attacks.randomness import IntegerSource
from fedrobust.attacks.words import SplitText


class WordNetSynonyms:
    """Callable word -> synonyms; loads WordNet from the project's NLTK dir on first use."""

    def __init__(self) -> None:
        require_wordnet()
        from nltk.corpus import wordnet

        self._wordnet = wordnet
        self._synonyms = lru_cache(maxsize=65536)(self._lookup)
        self._lock = threading.Lock()  # NLTK's corpus reader seeks in shared files: one lookup at a time

    def _lookup(self, word: str) -> tuple[str, ...]:
        found: dict[str, None] = {}
        with self._lock:
            synsets = self._wordnet.synsets(word, lang="eng")
            lemmas = [lemma for synset in synsets for lemma in synset.lemma_names(lang="eng")]
        for lemma in lemmas:
            if lemma != word and "_" not in lemma and len(SplitText.from_text(lemma).words) == 1:
                found[lemma] = None
        return tuple(found)

    def __call__(self, word: str, rng: IntegerSource | None = None) -> list[str]:
        return list(self._synonyms(word))
