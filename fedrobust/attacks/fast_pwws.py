"""fast_pwws: PWWS (Ren et al. 2019) batched over many examples.

Same recipe as TextAttack's PWWSRen2019: WordNet synonym swaps, words ranked by probability
weighted word saliency (softmax of the [UNK] saliency times the best swap's score), greedy
search, stop words and already swapped words left alone.
"""

from __future__ import annotations

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.greedy_word_swap import GreedyWordSwapAttack, WordCandidates
from fedrobust.attacks.wordnet_synonyms import WordNetSynonyms


@ATTACKS.register("fast_pwws")
class FastPWWS(GreedyWordSwapAttack):
    name = "fast_pwws"
    ranking = "weighted_saliency"

    def word_candidates(self) -> WordCandidates:
        return WordNetSynonyms()
