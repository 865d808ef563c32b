"""Attacks by name: ``build_attack("fast_deepwordbug", model, tokenizer, max_queries=..., seed=0)``."""

from __future__ import annotations

from typing import Any, Callable

from fedrobust.attacks.base import Attack
from fedrobust.models.base import TextClassifier
from fedrobust.registry import Registry

AttackBuilder = Callable[..., Attack]

# Builders take (model, tokenizer, *, max_queries: int | None, seed: int, **options); every one
# takes the word budget options max_words and max_word_fraction (see budgets).
ATTACKS: Registry[AttackBuilder] = Registry("attack")


def build_attack(
    name: str,
    model: TextClassifier,
    tokenizer: Any,
    *,
    max_queries: int | None = None,
    seed: int = 0,
    **options: Any,
) -> Attack:
    return ATTACKS.get(name)(model, tokenizer, max_queries=max_queries, seed=seed, **options)
