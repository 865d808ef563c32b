"""Adversarial text attacks by name: TextAttack recipes (offline) and fast batched attacks.

    from fedrobust.attacks import build_attack, ATTACKS
    attack = build_attack("fast_deepwordbug", model, tokenizer, max_queries=None, seed=0)
    records = attack.attack(texts, labels)

Importing this package does not import TextAttack; building a ``textattack:*`` recipe does.
"""

from fedrobust.attacks import (  # noqa: F401  (each module registers its attacks)
    fast_deepwordbug,
    fast_hotflip,
    fast_pwws,
    textattack_recipes,
    unavailable_recipes,
)
from fedrobust.attacks.base import Attack
from fedrobust.attacks.catalog import ATTACKS, build_attack
from fedrobust.attacks.records import FAILED, RESULTS, SKIPPED, SUCCESSFUL, AttackRecord

__all__ = ["ATTACKS", "Attack", "AttackRecord", "FAILED", "RESULTS", "SKIPPED", "SUCCESSFUL", "build_attack"]
