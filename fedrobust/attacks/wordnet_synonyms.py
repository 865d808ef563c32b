"""WordNet synonyms of a word, as TextAttack's WordSwapWordNet proposes them (single words only)."""

from __future__ import annotations

import threading
from functools import lru_cache

from fedrobust.attacks.nltk_env import require_wordnet
from fedrobust.attacks.randomness import IntegerSource
from fedrobust.attacks.words import SplitText


_LOCK = threading.Lock()  # NLTK's corpus reader seeks in shared files: one lookup at a time


@lru_cache(maxsize=65536)
def synonyms_of(word: str) -> tuple[str, ...]:
    """A word's single-word WordNet synonyms, looked up once per process (an attack is built per
    model, so per device in a federation; the synonyms do not depend on the model)."""
    require_wordnet()
    from nltk.corpus import wordnet

    found: dict[str, None] = {}
    with _LOCK:
        synsets = wordnet.synsets(word, lang="eng")
        lemmas = [lemma for synset in synsets for lemma in synset.lemma_names(lang="eng")]
    for lemma in lemmas:
        if lemma != word and "_" not in lemma and len(SplitText.from_text(lemma).words) == 1:
            found[lemma] = None
    return tuple(found)


class WordNetSynonyms:
    """Callable word -> synonyms; loads WordNet from the project's NLTK dir on first use."""

    def __init__(self) -> None:
        require_wordnet()

    def __call__(self, word: str, rng: IntegerSource | None = None) -> list[str]:
        return list(synonyms_of(word))
