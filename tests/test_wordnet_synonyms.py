"""The English-only WordNet reader gives NLTK's own synsets and lemmas."""

import pytest

from fedrobust.attacks import wordnet_synonyms
from fedrobust.resources import has_wordnet

pytestmark = pytest.mark.skipif(not has_wordnet(), reason="WordNet files are not installed")

WORDS = ("good bad movie films acting was were better best worst running ran flights delayed cancelled "
         "great terrible service seats lost bags crew friendly rude the of and quickly happily boring "
         "wonderful plots actors geese mice children went gone saw seen dogs cats made making lied lying "
         "airline airport pilot thanks customer hours late early never again zzzqx").split()


def test_english_reader_matches_nltks_wordnet():
    from nltk.corpus import wordnet

    wordnet_synonyms.require_wordnet()
    english = wordnet_synonyms.english_wordnet()
    assert type(english) is not type(wordnet)  # the reader under test, not NLTK's lazy loader
    for word in WORDS:
        ours = [(s.name(), s.lemma_names(lang="eng")) for s in english.synsets(word, lang="eng")]
        theirs = [(s.name(), s.lemma_names(lang="eng")) for s in wordnet.synsets(word, lang="eng")]
        assert ours == theirs, word
    assert wordnet_synonyms.synonyms_of("good") and not wordnet_synonyms.synonyms_of("zzzqx")
