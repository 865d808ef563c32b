"""What a membership-inference attack on one device sees, and how it is scored.

Members are the examples the device personalized on (its train split), non-members its held-out
test split. An attack gives every example a score, higher meaning "more likely a member"; AUC and
TPR at a low FPR summarize how well the scores separate the two sets (Carlini et al. 2022 argue
for the low-FPR number: an attack that is confident about a few members is a real leak even at
AUC near 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from fedrobust.models.base import TextClassifier


@dataclass
class MembershipTarget:
    model: TextClassifier
    tokenizer: object
    member_texts: Sequence[str]
    member_labels: Sequence[int]
    nonmember_texts: Sequence[str]
    nonmember_labels: Sequence[int]
    # models trained like the target but on data without these members (for calibrated attacks)
    reference_models: list[TextClassifier] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return list(self.member_texts) + list(self.nonmember_texts)

    @property
    def labels(self) -> list[int]:
        return list(self.member_labels) + list(self.nonmember_labels)

    def split(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores over ``texts`` -> (member scores, non-member scores)."""
        n = len(self.member_texts)
        return scores[:n], scores[n:]


class MembershipAttack:
    name = ""
    needs_reference_models = False

    def scores(self, target: MembershipTarget) -> torch.Tensor:
        """One membership score per example of ``target.texts`` (higher: more likely a member)."""
        raise NotImplementedError
