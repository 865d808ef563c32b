"""The search space: per student family, a finite list of choices for each constructor parameter.

A gene is a dotted constructor key (``hidden``, ``embedding.dim``); its value goes to that key of
the student config. Embedding genes are conditional: ``embedding.rank`` only matters for a
factorized table, ``embedding.num_buckets`` only for a hashed one, so a candidate keeps a value
for every gene of its family but only the active ones reach the student config (and its identity).
A pruned table is sized by the distillation pipeline (one row per kept token), so it is no gene.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from fedrobust.config_schema import check_parameters
import fedrobust.models.students  # noqa: F401  (registers the students)
from fedrobust.errors import ConfigError
from fedrobust.models.registry import STUDENTS

# Which embedding sub-keys each table kind reads (fedrobust.models.embeddings).
EMBEDDING_KIND_KEYS = {
    "pruned": {"dim"},
    "hashed": {"dim", "num_buckets", "num_hashes", "seed"},
    "factorized": {"dim", "rank", "train_table"},
}

EMBEDDING_GENES = {
    "embedding.kind": ["pruned", "hashed", "factorized"],
    "embedding.dim": [32, 64, 96],
    "embedding.rank": [16, 24, 32],
    "embedding.num_buckets": [2048, 4096, 8192],
}

# Sizes around the hand-designed student (configs/distill_full.yaml) and the study's baselines.
DEFAULT_SPACE: dict[str, dict[str, list[Any]]] = {
    "bigru_attention": {**EMBEDDING_GENES, "hidden": [32, 64, 96, 128], "dropout": [0.1, 0.2, 0.3]},
    "fastgrnn": {**EMBEDDING_GENES, "hidden": [32, 64, 128], "rank_w": [None, 8, 16], "rank_u": [None, 8, 16]},
    "prado": {
        "projection_dim": [64, 128, 256],
        "dim": [32, 64, 96],
        "channels": [32, 64, 96],
        "ngram_sizes": [[1, 2], [1, 2, 3], [2, 3, 4]],
    },
    "tiny_transformer": {**EMBEDDING_GENES, "layers": [1, 2, 3], "heads": [2, 4], "ff_dim": [64, 128, 256]},
}


def _divisible(numerator: str, denominator: str) -> Callable[[dict[str, Any]], str | None]:
    def check(genes: dict[str, Any]) -> str | None:
        if numerator in genes and denominator in genes and genes[numerator] % genes[denominator]:
            return f"{numerator}={genes[numerator]} is not divisible by {denominator}={genes[denominator]}"
        return None

    return check


# Structural facts of the families that a combination of choices can break.
CONSTRAINTS: dict[str, list[Callable[[dict[str, Any]], str | None]]] = {
    "tiny_transformer": [_divisible("embedding.dim", "heads")],
}


@dataclass(frozen=True)
class Candidate:
    """One architecture: a family and a value for each of that family's genes."""

    family: str
    genes: tuple[tuple[str, Any], ...]  # sorted (gene, value) pairs, hashable

    @classmethod
    def of(cls, family: str, genes: dict[str, Any]) -> "Candidate":
        return cls(family, tuple(sorted((k, _freeze(v)) for k, v in genes.items())))

    def gene_dict(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self.genes}

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "genes": self.gene_dict()}


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _thaw(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def gene_active(gene: str, genes: dict[str, Any]) -> bool:
    if not gene.startswith("embedding.") or gene == "embedding.kind":
        return True
    return gene.split(".", 1)[1] in EMBEDDING_KIND_KEYS.get(genes.get("embedding.kind", "pruned"), set())


def student_key(student: dict[str, Any]) -> str:
    """A stable identity for a student config: what the store keys evaluations by."""
    canonical = json.dumps(student, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(canonical.encode()).hexdigest()[:12]


@dataclass
class SearchSpace:
    families: dict[str, dict[str, list[Any]]] = field(default_factory=lambda: dict(DEFAULT_SPACE))

    def genes_of(self, family: str) -> dict[str, list[Any]]:
        try:
            return self.families[family]
        except KeyError:
            raise ConfigError(f"family {family!r} is not in the search space; known: {sorted(self.families)}") from None

    def student_config(self, candidate: Candidate) -> dict[str, Any]:
        """The `student:` mapping of a distill config: active genes only, dotted keys nested."""
        genes = candidate.gene_dict()
        config: dict[str, Any] = {"name": candidate.family}
        for gene, value in sorted(genes.items()):
            if not gene_active(gene, genes):
                continue
            head, _, tail = gene.partition(".")
            if tail:
                config.setdefault(head, {})[tail] = value
            else:
                config[head] = value
        return config

    def key(self, candidate: Candidate) -> str:
        return student_key(self.student_config(candidate))

    def problems(self, candidate: Candidate) -> list[str]:
        """Why a candidate is not a valid point of this space (empty when it is)."""
        if candidate.family not in self.families:
            return [f"family {candidate.family!r} is not in the space"]
        choices, genes = self.families[candidate.family], candidate.gene_dict()
        found = [f"gene {g} is missing" for g in choices if g not in genes]
        found += [f"gene {g} is not in the space of {candidate.family}" for g in genes if g not in choices]
        found += [
            f"{g}={v!r} is not one of {choices[g]}" for g, v in genes.items() if g in choices and v not in choices[g]
        ]
        found += [p for check in CONSTRAINTS.get(candidate.family, []) if (p := check(genes))]
        return found

    def is_valid(self, candidate: Candidate) -> bool:
        return not self.problems(candidate)

    def sample(self, rng: random.Random, family: str | None = None, max_tries: int = 200) -> Candidate:
        family = family or rng.choice(sorted(self.families))
        choices = self.families[family]
        for _ in range(max_tries):
            candidate = Candidate.of(family, {g: rng.choice(options) for g, options in sorted(choices.items())})
            if self.is_valid(candidate):
                return candidate
        raise ConfigError(f"search space of {family} has no valid combination in {max_tries} random draws; "
                          "check its choices against the family's constraints")

    def size(self) -> int:
        """Distinct student configs (inactive genes do not count)."""
        keys = set()
        for family, choices in self.families.items():
            names = sorted(choices)
            combos: list[dict[str, Any]] = [{}]
            for name in names:
                combos = [{**c, name: v} for c in combos for v in choices[name]]
            keys |= {self.key(Candidate.of(family, c)) for c in combos if self.is_valid(Candidate.of(family, c))}
        return len(keys)


def space_from_mapping(mapping: dict[str, Any] | None, where: str = "space") -> SearchSpace:
    """Validate a `space:` config section: families are student names, genes their constructor keys."""
    if mapping is None:
        return SearchSpace()
    if not isinstance(mapping, dict) or not mapping:
        raise ConfigError(f"config key {where} must be a non-empty mapping of student family -> genes")
    families: dict[str, dict[str, list[Any]]] = {}
    for family, genes in mapping.items():
        if family not in STUDENTS:
            raise ConfigError(f"config key {where}.{family}: unknown student; known: {', '.join(STUDENTS.names())}")
        if not isinstance(genes, dict) or not genes:
            raise ConfigError(f"config key {where}.{family} must map gene names to lists of choices")
        for gene, options in genes.items():
            if not isinstance(options, list) or not options:
                raise ConfigError(f"config key {where}.{family}.{gene} must be a non-empty list of choices")
            if gene == "embedding.kind" and set(options) - set(EMBEDDING_KIND_KEYS):
                raise ConfigError(f"config key {where}.{family}.{gene}: kinds are {sorted(EMBEDDING_KIND_KEYS)}")
            if "." in gene and gene.split(".", 1)[1] not in set().union(*EMBEDDING_KIND_KEYS.values()) | {"kind"}:
                raise ConfigError(f"config key {where}.{family}.{gene}: only embedding.* genes may be dotted")
            top = gene.split(".", 1)[0]
            for value in options:  # every choice must be a value the constructor accepts
                probe = {top: {}} if "." in gene else {gene: value}
                check_parameters(STUDENTS.get(family), probe, f"{where}.{family}", skip=("num_labels", "vocab_size"))
        families[family] = {g: list(o) for g, o in genes.items()}
        SearchSpace({family: families[family]}).sample(random.Random(0))  # some combination is valid
    return SearchSpace(families)
