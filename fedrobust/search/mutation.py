"""Mutation: change a few active genes of a candidate (or, rarely, its whole family).

Numeric genes move to a neighbouring choice (choices are listed in order of size), so a mutation
is a small step in size; categorical genes (embedding kind, n-gram sets) jump to another choice.
The result is always a valid point of the space that differs from the parent as a student config.
"""

from __future__ import annotations

import random
from typing import Any

from fedrobust.errors import ConfigError
from fedrobust.search.space import Candidate, SearchSpace, gene_active


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _new_value(options: list[Any], current: Any, rng: random.Random) -> Any:
    others = [o for o in options if o != current]
    if not others:
        return current
    if current in options and all(_is_number(o) for o in options):
        i = options.index(current)
        neighbours = [options[j] for j in (i - 1, i + 1) if 0 <= j < len(options)]
        return rng.choice(neighbours)
    return rng.choice(others)


def _switch_family(parent: Candidate, space: SearchSpace, rng: random.Random) -> Candidate:
    """A random member of another family that keeps the parent's shared genes where they fit."""
    family = rng.choice([f for f in sorted(space.families) if f != parent.family])
    child = space.sample(rng, family).gene_dict()
    for gene, value in parent.gene_dict().items():
        if gene in child and value in space.families[family][gene]:
            child[gene] = value
    return Candidate.of(family, child)


def _mutate_genes(parent: Candidate, space: SearchSpace, rng: random.Random, rate: float) -> Candidate:
    choices, genes = space.families[parent.family], parent.gene_dict()
    active = [g for g in sorted(genes) if gene_active(g, genes) and len(choices[g]) > 1]
    if not active:
        return parent
    picked = [g for g in active if rng.random() < rate] or [rng.choice(active)]
    for gene in picked:
        genes[gene] = _new_value(choices[gene], genes[gene], rng)
    return Candidate.of(parent.family, genes)


def mutate(
    parent: Candidate, space: SearchSpace, rng: random.Random, rate: float = 0.25,
    family_rate: float = 0.1, max_tries: int = 100,
) -> Candidate:
    """A valid child whose student config differs from ``parent``'s."""
    parent_key = space.key(parent)
    can_switch = len(space.families) > 1
    for _ in range(max_tries):
        if can_switch and rng.random() < family_rate:
            child = _switch_family(parent, space, rng)
        else:
            child = _mutate_genes(parent, space, rng, rate)
        if space.is_valid(child) and space.key(child) != parent_key:
            return child
    raise ConfigError(f"no valid mutation of {space.student_config(parent)} in {max_tries} tries; "
                      "the search space around it has a single point: add choices")
