"""fast_deepwordbug: DeepWordBug (Gao et al. 2018) batched over many examples.

Same recipe as TextAttack's DeepWordBugGao2018: four random character edits per word, words
ranked by replacing them with [UNK], greedy search, stop words and already edited words left
alone, Levenshtein distance to the original text at most 30.
"""

from __future__ import annotations

from typing import Any

import editdistance

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.char_edits import deepwordbug_candidates
from fedrobust.attacks.greedy_word_swap import GreedyWordSwapAttack, TextConstraint, WordCandidates

MAX_EDIT_DISTANCE = 30


def within_edit_distance(limit: int) -> TextConstraint:
    def allowed(original: str, candidate: str) -> bool:
        return editdistance.eval(original, candidate) <= limit

    return allowed


@ATTACKS.register("fast_deepwordbug")
class FastDeepWordBug(GreedyWordSwapAttack):
    name = "fast_deepwordbug"
    ranking = "unk"

    def __init__(self, *args: Any, max_edit_distance: int = MAX_EDIT_DISTANCE, **kwargs: Any) -> None:
        self.max_edit_distance = max_edit_distance
        super().__init__(*args, **kwargs)

    def word_candidates(self) -> WordCandidates:
        return deepwordbug_candidates

    def text_constraints(self) -> list[TextConstraint]:
        return [within_edit_distance(self.max_edit_distance)]
