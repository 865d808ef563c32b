"""fast_hotflip: HotFlip word flips (Ebrahimi et al. 2018) guided by the gradient, batched.

Same recipe as TextAttack's HotFlipEbrahimi2017 where it runs offline: each step proposes the
``top_n`` word flips with the largest first-order loss increase (see gradient_flips), evaluates
them for real and keeps a beam of ``beam_width`` texts (the ``beam`` search); at most two words
flipped, stop words and flipped words left alone. TextAttack's embedding-cosine and
part-of-speech constraints need downloaded resources and are not applied. All examples advance
one beam step at a time, their gradients and candidates scored in shared batches.
"""

from __future__ import annotations

from typing import Any

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.gradient_flips import GradientFlips, GradientWordFlips
from fedrobust.attacks.word_swap_attack import WordSwapAttack
from fedrobust.attacks.word_swaps import Transformation
from fedrobust.models.base import TextClassifier


@ATTACKS.register("fast_hotflip")
class FastHotFlip(WordSwapAttack):
    """``threads`` defaults to 1 and ``examples_per_batch`` to all: the beam keeps exact score
    order, so results could move with how examples are split into batches. ``max_words`` defaults
    to the recipe's 2; ``max_words=None`` leaves only ``max_word_fraction`` (if given) to bound it."""

    name = "fast_hotflip"
    search_method = "beam"

    def __init__(
        self,
        model: TextClassifier,
        tokenizer: Any,
        *,
        max_words: int | None = 2,
        top_n: int = 1,
        batch_size: int = 64,
        threads: int | None = 1,
        examples_per_batch: int | None = None,
        **options: Any,
    ) -> None:
        self.flips = GradientFlips(model, tokenizer, top_n=top_n, batch_size=batch_size)
        super().__init__(
            model,
            tokenizer,
            batch_size=batch_size,
            threads=threads,
            examples_per_batch=examples_per_batch,
            max_words=max_words,
            **options,
        )

    def transformation(self) -> Transformation:
        return GradientWordFlips(self.flips)
