"""The attack-evaluation section every stage shares: which attack, on how many texts, with what budget.

`fedrobust evaluate`, the run config's `evaluate:` section, the federated device phase
(`federated.evaluate` / a simulate config's `evaluate:`) and the search's `evaluation:` all embed
this type (the device phase with its own default sample size), so the keys mean the same thing
everywhere:

    attack: fast_deepwordbug   # a registered attack (fedrobust.attacks.ATTACKS)
    examples: 200              # a seeded sample of this many texts is attacked (null: all)
    max_queries: null          # model queries per attacked text (null: no cap)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedrobust.attacks import ATTACKS
from fedrobust.config_schema import flag_help
from fedrobust.errors import ConfigError

# keys of the sections this one replaced, and what they are now called
RENAMED_KEYS = {"adversarial_examples": "examples", "max_examples": "examples", "attack_examples": "examples"}


@dataclass
class AttackEvalConfig:
    attack: str = field(default="fast_deepwordbug", metadata=flag_help("a registered attack (fedrobust.attacks)"))
    examples: int | None = field(default=200, metadata=flag_help(
        "a seeded sample of this many texts is attacked; none: all", metavar="N|none"))
    max_queries: int | None = field(default=None, metadata=flag_help(
        "model queries per attacked text; none: no cap", metavar="N|none"))

    def validate(self, where: str = "evaluate") -> None:
        """Raise ConfigError naming ``<where>.<key>`` for an unknown attack or impossible sizes."""
        if self.examples is not None and self.examples < 0:
            raise ConfigError(f"config key {where}.examples must be >= 0 (or null for all), got {self.examples}")
        if self.max_queries is not None and self.max_queries < 1:
            raise ConfigError(f"config key {where}.max_queries must be >= 1 (or null), got {self.max_queries}")
        if self.attacks_anything and self.attack not in ATTACKS:
            raise ConfigError(f"config key {where}.attack: unknown attack {self.attack!r}; known: {', '.join(ATTACKS.names())}")

    @property
    def attacks_anything(self) -> bool:
        return self.examples is None or self.examples > 0


@dataclass
class DeviceAttackEvalConfig(AttackEvalConfig):
    """The device phase: each device's own test texts, so a much smaller default sample."""

    examples: int | None = field(default=10, metadata=AttackEvalConfig.__dataclass_fields__["examples"].metadata)
