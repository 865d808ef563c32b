"""What every token-attribution method returns and the registry it is picked from by name
(fedrobust.evaluation.attributions lists the methods)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from fedrobust.registry import Registry

DEFAULT_ATTRIBUTION = "grad_x_input"


@dataclass(frozen=True)
class Completeness:
    """One text's completeness check for integrated gradients: ``attribution_sum`` should equal
    ``logit - baseline_logit`` (the explained class's logit on the text and on the baseline)."""

    logit: float
    baseline_logit: float
    attribution_sum: float

    @property
    def gap(self) -> float:
        """attribution_sum - (logit - baseline_logit): the Riemann sum's error (0 when exact)."""
        return self.attribution_sum - (self.logit - self.baseline_logit)

    @property
    def relative_gap(self) -> float:
        """|gap| / max(|logit - baseline_logit|, 1e-6)."""
        return abs(self.gap) / max(abs(self.logit - self.baseline_logit), 1e-6)


@dataclass
class TokenAttributions:
    """Per-example attributions over the tokens the mask keeps (padding removed)."""

    input_ids: list[list[int]]
    scores: list[torch.Tensor]  # one (L_i,) tensor per example
    targets: list[int]
    method: str = DEFAULT_ATTRIBUTION
    completeness: list[Completeness] | None = None  # integrated gradients only


AttributionMethod = Callable[..., TokenAttributions]
ATTRIBUTIONS: Registry[AttributionMethod] = Registry("attribution method")


def special_ids(tokenizer: Any) -> set[int]:
    """The ids the tokenizer names as special ([CLS], [SEP], [PAD] ...), empty when it names none."""
    special = getattr(tokenizer, "special_token_ids", None)
    return set(special()) if callable(special) else set()


def given_targets(targets: Sequence[int], start: int, count: int) -> torch.Tensor:
    return torch.as_tensor(list(targets[start : start + count]), dtype=torch.long)


def chosen_targets(logits: torch.Tensor, targets: Sequence[int] | None, start: int) -> torch.Tensor:
    return logits.argmax(dim=1) if targets is None else given_targets(targets, start, logits.shape[0])


def append_unpadded(ids: torch.Tensor, mask: torch.Tensor, scores: torch.Tensor, out: TokenAttributions) -> None:
    for row in range(ids.shape[0]):
        keep = mask[row].bool()
        out.input_ids.append(ids[row][keep].tolist())
        out.scores.append(scores[row][keep])
