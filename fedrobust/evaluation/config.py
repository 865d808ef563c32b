"""The attack-evaluation section every stage shares: which threat models, on how many texts.

`fedrobust evaluate`, the run config's `evaluate:` section, the federated device phase
(`federated.evaluate` / a simulate config's `evaluate:`) and the search's `evaluation:` all embed
this type (the device phase with its own default: every test text), so the keys mean the same
thing everywhere:

    attacks:                       # threat models; an entry may also be just the attack's name
      - attack: fast_deepwordbug   # character edits (DeepWordBug)
        word_budgets: [0.1, 0.25]  # at most this fraction of the text's words modified (ceil), one figure each
        max_queries: 2000          # model queries per attacked text (null: no cap)
        max_edit_distance: 30      # character attacks: Levenshtein distance to the original text
      - attack: fast_pwws          # word substitution (WordNet synonyms, PWWS)
    examples: 200                  # a seeded sample of this many texts is attacked (null: all)
    split: test                    # the device phase only: validation in runs that tune settings
    explanation_agreement: false   # the device phase only: each device's token attributions against
    top_k: 5                       #   the teacher's, before and after personalization (top-k overlap's k)
    attribution: grad_x_input      #   by grad_x_input | integrated_gradients (32 steps, [PAD] baseline)

The first attack at its first budget is the run's *primary* threat: the plain ``adversarial_acc``
and ``attack_success_rate`` columns are measured under it; every threat also has its own columns
``adversarial_acc[<attack>@<budget>]`` (fedrobust.evaluation.metrics.threat_metric).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from fedrobust.attacks import ATTACKS
from fedrobust.attacks.availability import runnable_attacks, unavailable_reason
from fedrobust.config_schema import AT_LEAST_ONE, NON_NEGATIVE, Limit, check_all, check_limits, dotted, flag_help
from fedrobust.evaluation.attributions import ATTRIBUTIONS, DEFAULT_ATTRIBUTION

# keys of the sections this one replaced, and what they are now called
RENAMED_KEYS = {"adversarial_examples": "examples", "max_examples": "examples", "attack_examples": "examples",
                "attack": "attacks (a list of threat models: attacks: [{attack: NAME, word_budgets: [0.1]}])",
                "max_queries": "attacks[i].max_queries"}
DEFAULT_WORD_BUDGETS = (0.1, 0.25)
DEFAULT_MAX_QUERIES = 2000
CHARACTER_ATTACKS = ("fast_deepwordbug", "textattack:deepwordbug")  # the ones with an edit distance


@dataclass
class ThreatModel:
    """One attack with its budget: what an adversary may change and how often it may ask."""

    SHORTHAND: ClassVar[str] = "attack"  # a bare string in a list of threat models names the attack
    LIMITS: ClassVar[dict[str, Limit]] = {"max_queries": AT_LEAST_ONE, "max_edit_distance": NON_NEGATIVE}

    attack: str = field(default="fast_deepwordbug", metadata=flag_help("a registered attack (fedrobust.attacks)"))
    word_budgets: list[float] = field(default_factory=lambda: list(DEFAULT_WORD_BUDGETS), metadata=flag_help(
        "fractions of a text's words the attack may modify (ceil), one measurement each; 1: any number",
        metavar="FRACTION"))
    max_queries: int | None = field(default=DEFAULT_MAX_QUERIES, metadata=flag_help(
        "model queries per attacked text; none: no cap", metavar="N|none"))
    max_edit_distance: int | None = field(default=None, metadata=flag_help(
        "character attacks: Levenshtein distance to the original text; none: the attack's default (30)",
        metavar="N|none"))

    def validate(self, where: str) -> None:
        check_attack_runs(self.attack, dotted(where, "attack"))
        check_limits(self, where)
        check_all([
            (len(self.word_budgets) > 0, f"{dotted(where, 'word_budgets')} needs at least one budget"),
            (all(0 <= b <= 1 for b in self.word_budgets),
             f"{dotted(where, 'word_budgets')} are fractions of words in [0, 1], got {self.word_budgets}"),
            (self.max_edit_distance is None or self.attack in CHARACTER_ATTACKS,
             f"{dotted(where, 'max_edit_distance')} applies to character attacks ({', '.join(CHARACTER_ATTACKS)}), "
             f"not {self.attack}"),
        ])

    @property
    def budgets(self) -> list[float]:
        return sorted(set(self.word_budgets))

    def options(self, word_budget: float) -> dict[str, Any]:
        """build_attack's keyword options for one word budget (max_queries aside)."""
        options: dict[str, Any] = {"max_word_fraction": word_budget}
        if self.max_edit_distance is not None:
            options["max_edit_distance"] = self.max_edit_distance
        return options

    def describe(self) -> str:
        budgets = "/".join(f"{b:.0%}" for b in self.budgets)
        queries = "no query cap" if self.max_queries is None else f"{self.max_queries} queries"
        distance = f", edit distance {self.max_edit_distance}" if self.max_edit_distance is not None else ""
        return f"{self.attack} ({budgets} of words, {queries}{distance})"


def check_attack_runs(name: str, key: str) -> None:
    """Fail naming ``key`` for an attack that is not registered or that cannot run here (offline)."""
    if name not in ATTACKS:
        check_all([(False, f"{key}: unknown attack {name!r}; known: {', '.join(ATTACKS.names())}")])
    reason = unavailable_reason(name)
    if reason is not None:
        check_all([(False, f"{key}: {name} cannot run offline here: {reason}; available: "
                           f"{', '.join(runnable_attacks())}")])


def check_attribution(method: str, key: str) -> None:
    """Fail naming ``key`` for an attribution method that is not registered."""
    check_all([(method in ATTRIBUTIONS, f"{key} must be one of {', '.join(ATTRIBUTIONS.names())}, got {method!r}")])


ATTRIBUTION_HELP = ("explanation agreement: token attributions of the teacher and the models by grad_x_input | "
                    "integrated_gradients (32 steps from a [PAD] baseline; fedrobust.evaluation.attributions)")


def default_threats() -> list[ThreatModel]:
    """A character attack and a word-substitution attack, each at 10% and 25% of words."""
    return [ThreatModel("fast_deepwordbug"), ThreatModel("fast_pwws")]


def threat_label(attack: str, word_budget: float) -> str:
    """``fast_pwws@0.1``: how a threat (attack at a word budget) is named in columns and tables."""
    return f"{attack}@{word_budget:g}"


@dataclass
class AttackEvalConfig:
    RENAMED_KEYS: ClassVar[dict[str, str]] = RENAMED_KEYS

    attacks: list[ThreatModel] = field(default_factory=default_threats, metadata=flag_help(
        "threat models: attack, word_budgets, max_queries, max_edit_distance"))
    examples: int | None = field(default=200, metadata=flag_help(
        "a seeded sample of this many texts is attacked; none: all", metavar="N|none"))

    def validate(self, where: str = "evaluate") -> None:
        """Raise ConfigError naming ``<where>.<key>`` for an unknown attack or impossible sizes."""
        check_all([(self.examples is None or self.examples >= 0,
                    f"{where}.examples must be >= 0 (or null for all), got {self.examples}")])
        if self.attacks_anything:
            check_all([(len(self.attacks) > 0, f"{where}.attacks needs at least one threat model "
                                               f"(or examples: 0 to attack nothing)")])
        for i, threat in enumerate(self.attacks):
            threat.validate(f"{where}.attacks[{i}]")

    @property
    def attacks_anything(self) -> bool:
        return bool(self.attacks) and (self.examples is None or self.examples > 0)

    @property
    def primary(self) -> tuple[ThreatModel, float]:
        """The threat the plain adversarial_acc columns are measured under."""
        return self.threats()[0]

    def threats(self) -> list[tuple[ThreatModel, float]]:
        """Every (threat model, word budget) pair, in the config's order."""
        return [(t, b) for t in self.attacks for b in t.budgets]

    def labels(self) -> list[str]:
        return [threat_label(t.attack, b) for t, b in self.threats()]

    def describe(self) -> str:
        return "; ".join(t.describe() for t in self.attacks) or "no attack"


DEVICE_SPLITS = ("test", "validation")


@dataclass
class DeviceAttackEvalConfig(AttackEvalConfig):
    """The device phase: each device's own test texts, all of them by default (small sets).

    ``split: validation`` measures the devices' validation texts instead (the majority baseline
    too) and reads no test text: for runs that tune settings; only the final run reads test."""

    examples: int | None = field(default=None, metadata=AttackEvalConfig.__dataclass_fields__["examples"].metadata)
    split: str = field(default="test", metadata=flag_help(
        "test (the final evaluation) | validation (runs that tune settings: no test text is read)"))
    # per device and phase, agreement of the model's token attributions with the teacher's on the same
    # texts (fedrobust.federated.device_explanations); top_k: the overlap's k, as the evaluate stage's
    explanation_agreement: bool = field(default=False, metadata=flag_help(
        "agreement of each device's token attributions with the teacher's, before and after personalization"))
    top_k: int = field(default=5, metadata=flag_help("explanation agreement: overlap of the k most important tokens"))
    attribution: str = field(default=DEFAULT_ATTRIBUTION, metadata=flag_help(ATTRIBUTION_HELP))

    LIMITS: ClassVar[dict[str, Limit]] = {"top_k": AT_LEAST_ONE}

    def validate(self, where: str = "evaluate") -> None:
        super().validate(where)
        check_limits(self, where)
        check_attribution(self.attribution, dotted(where, "attribution"))
        check_all([(self.split in DEVICE_SPLITS,
                    f"{where}.split must be one of {', '.join(DEVICE_SPLITS)}, got {self.split!r}")])
