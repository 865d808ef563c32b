"""Robust student architecture search (RoSearch-style): evolution, random search or successive
halving over the student families and sizes, each candidate distilled with the robust objectives
on a budget, locally or on a Ray cluster."""

from fedrobust.search import evolution, halving, random_search  # noqa: F401  (register the strategies)
from fedrobust.search.config import SearchConfig, config_from_mapping, load_search_config
from fedrobust.search.pareto import Objective, dominates, non_dominated_sort, pareto_front
from fedrobust.search.runner import SearchResult, run_search
from fedrobust.search.space import Candidate, SearchSpace
from fedrobust.search.strategy import SEARCH_STRATEGIES

__all__ = [
    "SEARCH_STRATEGIES", "Candidate", "Objective", "SearchConfig", "SearchResult", "SearchSpace",
    "config_from_mapping", "dominates", "load_search_config", "non_dominated_sort", "pareto_front", "run_search",
]
