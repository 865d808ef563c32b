"""The search space, mutation and crossover: every child is a valid, buildable student."""

import random

import pytest
import torch

from fedrobust.errors import ConfigError
from fedrobust.models.registry import build_student
from fedrobust.search.crossover import crossover
from fedrobust.search.mutation import mutate
from fedrobust.search.space import Candidate, SearchSpace, space_from_mapping


def buildable(space: SearchSpace, candidate: Candidate) -> bool:
    config = space.student_config(candidate)
    name = config.pop("name")
    if "embedding" in config and config["embedding"].get("kind", "pruned") == "pruned":
        config["embedding"] = {**config["embedding"], "num_embeddings": 50}
    model = build_student(name, num_labels=2, vocab_size=300, **config)
    ids = torch.randint(1, 300, (2, 7))
    logits = model(ids, torch.ones_like(ids))
    return logits.shape == (2, 2)


def test_mutation_keeps_candidates_valid_and_changes_the_student():
    space, rng = SearchSpace(), random.Random(0)
    candidate = space.sample(rng)
    families = set()
    for _ in range(300):
        child = mutate(candidate, space, rng, family_rate=0.2)
        assert space.problems(child) == []
        assert space.key(child) != space.key(candidate)
        families.add(child.family)
        candidate = child
    assert families == set(space.families)  # family switches happen and land on valid points


def test_mutated_students_build_and_run():
    space, rng = SearchSpace(), random.Random(1)
    candidate = space.sample(rng)
    for _ in range(12):
        candidate = mutate(candidate, space, rng, family_rate=0.3)
        assert buildable(space, candidate)


def test_mutation_respects_the_transformer_head_constraint():
    space = SearchSpace({"tiny_transformer": {"embedding.kind": ["pruned"], "embedding.dim": [6, 8], "heads": [2, 4],
                                              "layers": [1]}})
    rng = random.Random(0)
    candidate = Candidate.of("tiny_transformer", {"embedding.kind": "pruned", "embedding.dim": 8, "heads": 4, "layers": 1})
    for _ in range(50):
        candidate = mutate(candidate, space, rng)
        genes = candidate.gene_dict()
        assert genes["embedding.dim"] % genes["heads"] == 0


def test_crossover_children_are_valid_and_mix_parents():
    space, rng = SearchSpace(), random.Random(2)
    mixed = 0
    for _ in range(100):
        a, b = space.sample(rng), space.sample(rng)
        child = crossover(a, b, space, rng)
        assert space.problems(child) == []
        parent = a if child.family == a.family else b
        mixed += child != parent
    assert mixed > 10


def test_inactive_genes_do_not_change_the_student_identity():
    space = SearchSpace()
    genes = {"embedding.kind": "pruned", "embedding.dim": 64, "embedding.rank": 16, "embedding.num_buckets": 2048,
             "hidden": 64, "dropout": 0.2}
    a = Candidate.of("bigru_attention", genes)
    b = Candidate.of("bigru_attention", {**genes, "embedding.rank": 32})
    assert space.key(a) == space.key(b)
    assert space.student_config(a) == {"name": "bigru_attention", "embedding": {"kind": "pruned", "dim": 64},
                                       "hidden": 64, "dropout": 0.2}


def test_space_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="space.bigru_attention.hiden"):
        space_from_mapping({"bigru_attention": {"hiden": [32]}})
    with pytest.raises(ConfigError, match="space.nope"):
        space_from_mapping({"nope": {"hidden": [32]}})
    with pytest.raises(ConfigError, match="space.bigru_attention.hidden"):
        space_from_mapping({"bigru_attention": {"hidden": ["wide"]}})
    with pytest.raises(ConfigError, match="no valid combination"):
        space_from_mapping({"tiny_transformer": {"embedding.dim": [30], "heads": [4]}})
    assert space_from_mapping({"prado": {"dim": [32, 64]}}).size() == 2
