"""The `final:` section of a search config: how `fedrobust search-final OUT` re-trains and judges.

    final:
      distill: {extends: distill_full.yaml}   # the full distill budget (relative to the search config);
                                              # null: the search's own distill config (its full budget)
      seeds: [0, 1, 2]                        # each member of the front and the reference, once per seed
      attacks:                                # two families on the test split: characters and words
        - {attack: fast_deepwordbug, word_budgets: [0.25]}
        - {attack: fast_pwws, word_budgets: [0.25]}
      examples: null                          # test texts attacked (one seeded sample for all); null: all
      margin: 0.01                            # non-inferiority margin of "at least as accurate" / "as robust"
      size_ratio: 2.0                         # "smaller": at most 1 / size_ratio of the reference's params
      confidence: 0.95
      resamples: 2000                         # paired bootstrap over test texts
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fedrobust.config_schema import AT_LEAST_ONE, NON_NEGATIVE, Limit, check_all, check_limits, dotted
from fedrobust.evaluation.config import CHARACTER_ATTACKS, ThreatModel


def default_final_attacks() -> list[ThreatModel]:
    return [ThreatModel("fast_deepwordbug", [0.25]), ThreatModel("fast_pwws", [0.25])]


@dataclass
class FinalSection:
    distill: dict[str, Any] | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    attacks: list[ThreatModel] = field(default_factory=default_final_attacks)
    examples: int | None = None
    margin: float = 0.01
    size_ratio: float = 2.0
    confidence: float = 0.95
    resamples: int = 2000

    LIMITS: ClassVar[dict[str, Limit]] = {
        "seeds": NON_NEGATIVE, "examples": AT_LEAST_ONE, "margin": NON_NEGATIVE, "size_ratio": Limit(1),
        "confidence": Limit(0, 1, open_low=True, open_high=True), "resamples": AT_LEAST_ONE}

    def validate(self, where: str = "final") -> None:
        """Keys and sizes; whether the attacks run here is checked when `search-final` starts."""
        key = lambda name: dotted(where, name)  # noqa: E731
        check_limits(self, where)
        characters = [t for t in self.attacks if t.attack in CHARACTER_ATTACKS]
        check_all([
            (len(set(self.seeds)) == len(self.seeds) and len(self.seeds) >= 2,
             f"{key('seeds')} must be at least 2 distinct seeds (3 for a claim), got {self.seeds}"),
            (characters and len(characters) < len(self.attacks),
             f"{key('attacks')} needs two attack families: a character attack ({', '.join(CHARACTER_ATTACKS)}) "
             f"and a word-substitution attack (e.g. fast_pwws); got {[t.attack for t in self.attacks]}"),
        ])

    def check_attacks(self, where: str = "final") -> None:
        for i, threat in enumerate(self.attacks):
            threat.validate(f"{dotted(where, 'attacks')}[{i}]")
