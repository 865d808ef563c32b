"""fast_pwws: PWWS (Ren et al. 2019) batched over many examples.

Same recipe as TextAttack's PWWSRen2019: WordNet synonym swaps, words ranked by probability
weighted word saliency (softmax of the [UNK] saliency times the best swap's score), greedy
search, stop words and already swapped words left alone.
"""

from __future__ import annotations

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.word_swap_attack import WordSwapAttack
from fedrobust.attacks.word_swaps import CandidatesPerWord, Transformation
from fedrobust.attacks.wordnet_synonyms import WordNetSynonyms


@ATTACKS.register("fast_pwws")
class FastPWWS(WordSwapAttack):
    name = "fast_pwws"
    search_method = "greedy_wir"
    ranking = "weighted_saliency"

    def transformation(self) -> Transformation:
        return CandidatesPerWord(WordNetSynonyms())
