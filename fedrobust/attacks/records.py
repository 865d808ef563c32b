"""One attacked example, the common currency of every attack and of the evaluator."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SUCCESSFUL = "successful"
FAILED = "failed"
SKIPPED = "skipped"
RESULTS = (SUCCESSFUL, FAILED, SKIPPED)


@dataclass
class AttackRecord:
    """What happened to one example.

    ``result`` follows TextAttack: "skipped" when the clean prediction is already wrong,
    "successful" when the attack flipped a correct prediction, "failed" otherwise.
    ``queries`` counts model evaluations, the clean one included. ``words_changed``: word positions
    of ``perturbed_text`` that differ from ``text``; ``words_total``: words of ``text`` (both as
    TextAttack splits words), what a word budget is checked against. They default to 0 so that
    records written before they existed still load.
    """

    text: str
    label: int
    clean_pred: int
    adv_pred: int
    result: str
    queries: int
    perturbed_fraction: float
    perturbed_text: str
    words_changed: int = 0
    words_total: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
