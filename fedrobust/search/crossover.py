"""Uniform crossover: the child takes each gene from either parent, where that parent has it.

The child's family is one parent's; the other parent contributes only genes its family shares
(e.g. the embedding genes of the recurrent and transformer students) with a value that is a
choice of the child's family. A combination that breaks a constraint is redrawn; after
``max_tries`` the family parent is returned unchanged (mutation then makes it new).
"""

from __future__ import annotations

import random

from fedrobust.search.space import Candidate, SearchSpace


def crossover(a: Candidate, b: Candidate, space: SearchSpace, rng: random.Random, max_tries: int = 20) -> Candidate:
    base, other = (a, b) if rng.random() < 0.5 else (b, a)
    choices = space.families[base.family]
    base_genes, other_genes = base.gene_dict(), other.gene_dict()
    for _ in range(max_tries):
        child = {
            gene: other_genes[gene]
            if gene in other_genes and other_genes[gene] in choices[gene] and rng.random() < 0.5
            else value
            for gene, value in base_genes.items()
        }
        candidate = Candidate.of(base.family, child)
        if space.is_valid(candidate):
            return candidate
    return base
