"""Perturbation budgets: how many words an attack may change, and how far a character attack may
move the text, stated and checked in one place so that every attack bounds its threat model the
same way.

The word budget follows TextAttack's ``MaxWordsPerturbed``: an absolute ``max_words`` and a
``max_word_fraction`` of the original text's words, rounded up; the smaller one applies.
``records_within`` derives the records of a smaller word budget from a run at a larger one, which
is exact for attacks whose search path does not depend on the budget (``Attack.nested_word_budgets``),
so a budget curve costs one attack run instead of one per point.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Sequence

from fedrobust.attacks.records import FAILED, SKIPPED, AttackRecord
from fedrobust.errors import ConfigError, DataError

# fraction * n_words is rounded to this many decimals before the ceiling, so that 0.1 * 30
# (3.0000000000000004 in floating point) allows 3 words, not 4
_FRACTION_DECIMALS = 9


def check_word_budget(max_words: int | None, max_word_fraction: float | None) -> None:
    """ConfigError unless ``max_words`` is a non-negative integer and ``max_word_fraction`` a
    number in [0, 1] (either may be None: no limit from that option)."""
    if max_words is not None and (
        isinstance(max_words, bool) or not isinstance(max_words, numbers.Integral) or max_words < 0
    ):
        raise ConfigError(f"max_words must be a whole number of words >= 0 (or None for no limit), got {max_words!r}")
    if max_word_fraction is not None and (
        isinstance(max_word_fraction, bool)
        or not isinstance(max_word_fraction, numbers.Real)
        or not 0.0 <= max_word_fraction <= 1.0
    ):
        raise ConfigError(
            f"max_word_fraction must be a fraction of the text's words in [0, 1] (or None for no limit), "
            f"got {max_word_fraction!r}"
        )


def check_edit_distance(max_edit_distance: int) -> None:
    """ConfigError unless ``max_edit_distance`` (characters, Levenshtein) is an integer >= 0."""
    if (
        isinstance(max_edit_distance, bool)
        or not isinstance(max_edit_distance, numbers.Integral)
        or max_edit_distance < 0
    ):
        raise ConfigError(
            f"max_edit_distance must be a whole number of character edits >= 0, got {max_edit_distance!r}"
        )


def word_limit(n_words: int, max_words: int | None, max_word_fraction: float | None) -> int | None:
    """How many of a text's ``n_words`` words an attack may change: ``min(max_words,
    ceil(max_word_fraction * n_words))``, an option left None not limiting; None when neither limits.

    The fraction is of the original text's words and rounded up, as TextAttack's
    ``MaxWordsPerturbed`` does: 10% of a 4-word text is 1 word. Unlike TextAttack, floating-point
    noise is rounded away first (10% of 30 words is 3, not 4).
    """
    limits = []
    if max_words is not None:
        limits.append(int(max_words))
    if max_word_fraction is not None:
        limits.append(math.ceil(round(max_word_fraction * n_words, _FRACTION_DECIMALS)))
    return min(limits) if limits else None


def records_within(
    records: Sequence[AttackRecord], max_words: int | None = None, max_word_fraction: float | None = None
) -> list[AttackRecord]:
    """The records the same attack would have given under a smaller word budget, derived from its
    records at a larger one (or none).

    Only valid for an attack whose ``nested_word_budgets`` is True: its search takes the same path
    whatever the word budget and stops as soon as the prediction flips, so the budget only cuts the
    path short. Then a record within the smaller limit is the same, and one beyond it would have
    run out of words before flipping: it becomes FAILED with the clean prediction and the original
    text (0 words changed). Two things a rerun would give differently are not recoverable: a failed
    example's best partial text (TextAttack and the fast attacks report it; here it is the original
    text when the larger run changed more words than the limit allows), and ``queries`` (kept from
    the larger run, an upper bound of the smaller run's). ``result``, ``adv_pred`` and the
    successful texts are exact, hence every accuracy under attack, as far as a text's scores do not
    depend on which other texts share its batch (examples stop at different steps under the two
    budgets; ``threads`` sharding assumes the same).
    """
    check_word_budget(max_words, max_word_fraction)
    return [_within(record, max_words, max_word_fraction) for record in records]


def _within(record: AttackRecord, max_words: int | None, max_word_fraction: float | None) -> AttackRecord:
    if record.result == SKIPPED:
        return record
    if record.words_total == 0 and record.words_changed == 0 and record.perturbed_text != record.text:
        raise DataError(
            "an attack record has no word counts (words_changed/words_total; records made before they "
            "existed): rerun the attack to derive smaller word budgets from it"
        )
    limit = word_limit(record.words_total, max_words, max_word_fraction)
    if limit is None or record.words_changed <= limit:
        return record
    return dataclasses.replace(
        record,
        result=FAILED,
        adv_pred=record.clean_pred,
        perturbed_text=record.text,
        perturbed_fraction=0.0,
        words_changed=0,
    )
