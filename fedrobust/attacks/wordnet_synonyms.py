"""WordNet synonyms of a word, as TextAttack's WordSwapWordNet proposes them (single words only)."""

from __future__ import annotations

import threading
import warnings
from functools import lru_cache

from fedrobust.attacks.nltk_env import require_wordnet
from fedrobust.attacks.randomness import IntegerSource
from fedrobust.attacks.words import SplitText


_LOCK = threading.Lock()  # NLTK's corpus reader seeks in shared files: one lookup at a time


@lru_cache(maxsize=1)
def english_wordnet():
    """NLTK's WordNet reader for English lookups only, made once per process.

    Each simulation worker spent about 12 s loading ``nltk.corpus.wordnet``. Most of it is not
    needed here: the reader maps every synset to WordNet 3.0's ids (reading index.sense twice) for
    its multilingual (OMW) lookups only, and it reads the index files line by line through NLTK's
    seekable stream, which a plain file reads several times faster (they are read once, in order;
    the data files, read by offset, keep NLTK's stream). English synsets and lemmas are the same
    (tests/test_wordnet_synonyms.py compares them)."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class EnglishWordNet(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None

        def open(self, file: str):
            if file.startswith("index.") and file != "index.sense":
                return open(self.abspath(file), encoding=self._encoding)
            return super().open(file)

    require_wordnet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available": not asked for
        return EnglishWordNet(nltk.data.find("corpora/wordnet"), None)


@lru_cache(maxsize=65536)
def synonyms_of(word: str) -> tuple[str, ...]:
    """A word's single-word WordNet synonyms, looked up once per process (an attack is built per
    model, so per device in a federation; the synonyms do not depend on the model)."""
    wordnet = english_wordnet()
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
