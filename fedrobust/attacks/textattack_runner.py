"""Runs a TextAttack ``Attack`` example by example and turns its results into AttackRecords."""

from __future__ import annotations

import contextlib
import random
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from fedrobust.attacks.base import Attack, check_inputs
from fedrobust.attacks.records import FAILED, SKIPPED, SUCCESSFUL, AttackRecord
from fedrobust.attacks.textattack_env import import_textattack, textattack_quiet
from fedrobust.attacks.textattack_wrapper import textattack_wrapper
from fedrobust.models.base import TextClassifier

# build(textattack_module, model_wrapper) -> textattack.Attack
RecipeBuild = Callable[[Any, Any], Any]


class TextAttackRecipe(Attack):
    """A TextAttack attack over a fedrobust model; ``max_queries`` becomes its query budget.

    ``nested_word_budgets`` stays False: TextAttack's searches are not checked to take the same
    path under every word budget, so a smaller budget needs its own run."""

    def __init__(
        self,
        name: str,
        build: RecipeBuild,
        model: TextClassifier,
        tokenizer: Any,
        *,
        max_queries: int | None = None,
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        textattack = import_textattack()
        self.name = name
        self.seed = seed
        self.wrapper = textattack_wrapper(model, tokenizer, batch_size=batch_size)
        with textattack_quiet():
            self.textattack_attack = build(textattack, self.wrapper)
        goal = self.textattack_attack.goal_function
        goal.batch_size = batch_size
        if max_queries is not None:
            goal.query_budget = max_queries

    def attack(self, texts: Sequence[str], labels: Sequence[int]) -> list[AttackRecord]:
        check_inputs(texts, labels)
        records = []
        with textattack_quiet(), _seeded_global_generators(self.seed):
            for text, label in zip(texts, labels):
                result = self.textattack_attack.attack(text, int(label))
                records.append(_to_record(text, int(label), result))
        return records


@contextlib.contextmanager
def _seeded_global_generators(seed: int) -> Iterator[None]:
    """TextAttack's transformations draw from the global generators: seed them, then restore them."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _to_record(text: str, label: int, result: Any) -> AttackRecord:
    from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult

    original = result.original_result
    perturbed = result.perturbed_result
    if isinstance(result, SkippedAttackResult):
        outcome = SKIPPED
    elif isinstance(result, SuccessfulAttackResult):
        outcome = SUCCESSFUL
    else:
        outcome = FAILED
    original_words = original.attacked_text.words
    changed = len(original.attacked_text.all_words_diff(perturbed.attacked_text))
    return AttackRecord(
        text=text,
        label=label,
        clean_pred=int(original.output),
        adv_pred=int(perturbed.output),
        result=outcome,
        queries=int(perturbed.num_queries),
        perturbed_fraction=changed / len(original_words) if original_words else 0.0,
        perturbed_text=perturbed.attacked_text.text,
        words_changed=changed,
        words_total=len(original_words),
    )
