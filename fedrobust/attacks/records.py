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
    ``queries`` counts model evaluations, the clean one included.
    """

    text: str
    label: int
    clean_pred: int
    adv_pred: int
    result: str
    queries: int
    perturbed_fraction: float
    perturbed_text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
