"""The interface every attack (TextAttack recipe or fast batched attack) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

from fedrobust.attacks.records import AttackRecord
from fedrobust.errors import DataError


class Attack(ABC):
    """Untargeted evasion attack on a classifier: attack(texts, labels) -> one record each."""

    name: str = "attack"
    # True when the attack's search path does not depend on its word budget (the budget only cuts
    # it short), so that records at a smaller budget can be derived from a run at a larger one
    # (budgets.records_within) instead of rerunning
    nested_word_budgets: bool = False
    # True when ``attack`` takes ``streams``, each example's random stream ``(seed, index)``
    # (fedrobust.attacks.randomness), so that the examples of several seeded calls can run as one
    # batch with the results each call would have had
    pools_streams: bool = False

    @abstractmethod
    def attack(self, texts: Sequence[str], labels: Sequence[int]) -> list[AttackRecord]:
        """Attack every example; records come back in input order."""


def check_inputs(texts: Sequence[str], labels: Sequence[int]) -> None:
    if len(texts) != len(labels):
        raise DataError(f"attack got {len(texts)} texts but {len(labels)} labels; pass one label per text")
