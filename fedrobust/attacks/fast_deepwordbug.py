"""fast_deepwordbug: DeepWordBug (Gao et al. 2018) batched over many examples.

Same recipe as TextAttack's DeepWordBugGao2018: four random character edits per word, words
ranked by replacing them with [UNK], greedy search, stop words and already edited words left
alone, Levenshtein distance to the original text at most ``max_edit_distance`` (30, TextAttack's
value); the word budget options of every fast attack apply as well.
"""

from __future__ import annotations

from typing import Any, Sequence

import editdistance

from fedrobust.attacks.budgets import check_edit_distance
from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.char_edits import deepwordbug_candidates
from fedrobust.attacks.word_swap_attack import WordSwapAttack
from fedrobust.attacks.word_swaps import CandidatesPerWord, TextConstraint, Transformation
from fedrobust.attacks.words import SplitText

MAX_EDIT_DISTANCE = 30


def within_edit_distance(limit: int) -> TextConstraint:
    """Levenshtein distance between the original and the swapped text, as TextAttack measures it.

    The sum of the changed words' own distances bounds it from above (the text between words is
    unchanged), so the whole texts are compared only when that sum exceeds the limit.
    """

    def allowed(split: SplitText, words: Sequence[str], index: int, new_words: list[str]) -> list[str]:
        original = split.words
        others = sum(editdistance.eval(old, new) for k, (old, new) in enumerate(zip(original, words)) if old != new and k != index)
        kept = []
        for word in new_words:
            if others + editdistance.eval(original[index], word) <= limit:
                kept.append(word)
                continue
            swapped = list(words)
            swapped[index] = word
            if editdistance.eval(split.text, split.render(swapped)) <= limit:
                kept.append(word)
        return kept

    return allowed


@ATTACKS.register("fast_deepwordbug")
class FastDeepWordBug(WordSwapAttack):
    name = "fast_deepwordbug"
    search_method = "greedy_wir"
    ranking = "unk"

    def __init__(self, *args: Any, max_edit_distance: int = MAX_EDIT_DISTANCE, **kwargs: Any) -> None:
        check_edit_distance(max_edit_distance)
        self.max_edit_distance = max_edit_distance
        super().__init__(*args, **kwargs)

    def transformation(self) -> Transformation:
        return CandidatesPerWord(deepwordbug_candidates)

    def constraints(self) -> list[TextConstraint]:
        return [within_edit_distance(self.max_edit_distance)]
