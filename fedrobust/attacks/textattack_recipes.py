"""TextAttack recipes by name, built lazily (TextAttack is imported only when one is built).

``textattack:deepwordbug``, ``textattack:pruthi`` and ``textattack:pwws`` are the published
recipes, unchanged at their default options. ``textattack:hotflip_offline`` is HotFlip in
TextAttack's machinery (its goal, constraints and beam search) with the project's gradient word
flips as the transformation, since TextAttack's own gradient swap accepts only its word-level
LSTM/CNN models; it checks fast_hotflip's batched search. ``textattack:embedding_swap`` is
assembled from TextAttack parts: TextFooler's transformation, search and embedding-distance
constraint over word vectors that exist offline (the teacher's whole-word WordPiece embeddings by
default), without the constraints that need downloads (Universal Sentence Encoder, POS tagger).
Those vectors are not counter-fitted, so close neighbours can be antonyms; read its numbers as a
stress test, not as TextFooler.

Every recipe takes the word budget of the fast attacks, ``max_words`` and ``max_word_fraction``,
as a ``MaxWordsPerturbed`` constraint counted by the shared rule (budgets.word_limit), in place of
the recipe's own one where it has one (Pruthi's 1 word, hotflip_offline's 2 stay the defaults);
``textattack:deepwordbug`` also takes ``max_edit_distance`` for its Levenshtein constraint.
"""

from __future__ import annotations

from typing import Any

from fedrobust.attacks.budgets import check_edit_distance, check_word_budget, word_limit
from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.embedding_neighbours import WordVectors, model_word_vectors, teacher_word_vectors
from fedrobust.attacks.fast_deepwordbug import MAX_EDIT_DISTANCE
from fedrobust.attacks.gradient_flips import FlipRequest, GradientFlips
from fedrobust.attacks.nltk_env import require_wordnet
from fedrobust.attacks.textattack_runner import RecipeBuild, TextAttackRecipe
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier


def word_budget_constraint(max_words: int | None, max_word_fraction: float | None) -> Any:
    """TextAttack's ``MaxWordsPerturbed`` counting the limit as the fast attacks do: the ceiling
    of the fraction of the original text's words, without float noise, and a budget of 0 meaning
    no word (TextAttack's own reads 0 as no limit). None when neither option limits."""
    from textattack.constraints.overlap import MaxWordsPerturbed

    class WordBudget(MaxWordsPerturbed):
        def _check_constraint(self, transformed_text: Any, reference_text: Any) -> bool:
            limit = word_limit(len(reference_text.words), self.max_num_words, self.max_percent)
            return limit is None or len(transformed_text.all_words_diff(reference_text)) <= limit

    if max_words is None and max_word_fraction is None:
        return None
    return WordBudget(max_num_words=max_words, max_percent=max_word_fraction)


def bounded(
    ta: Any,
    attack: Any,
    max_words: int | None,
    max_word_fraction: float | None,
    max_edit_distance: int | None = None,
) -> Any:
    """``attack`` with the word budget in place of its own ``MaxWordsPerturbed`` (if any) and
    ``max_edit_distance`` in place of its ``LevenshteinEditDistance``: a new ``ta.Attack`` of the
    same goal, transformation and search, so the published recipe is otherwise unchanged."""
    from textattack.constraints.overlap import LevenshteinEditDistance, MaxWordsPerturbed

    budget = word_budget_constraint(max_words, max_word_fraction)
    if budget is None and max_edit_distance is None:
        return attack
    constraints = list(attack.pre_transformation_constraints) + list(attack.constraints)
    if budget is not None:
        constraints = [c for c in constraints if not isinstance(c, MaxWordsPerturbed)] + [budget]
    if max_edit_distance is not None:
        edit_distance = LevenshteinEditDistance(max_edit_distance)
        constraints = [edit_distance if isinstance(c, LevenshteinEditDistance) else c for c in constraints]
    return ta.Attack(attack.goal_function, constraints, attack.transformation, attack.search_method)


def _published_recipe(
    name: str, recipe_class: str, needs_wordnet: bool = False, default_max_words: int | None = None
) -> None:
    """Register ``name``: TextAttack's ``recipe_class`` under the word budget (``default_max_words``:
    the recipe's own limit, which ``max_words`` replaces)."""

    def builder(
        model: TextClassifier,
        tokenizer: Any,
        *,
        max_queries: int | None = None,
        seed: int = 0,
        batch_size: int = 64,
        max_words: int | None = default_max_words,
        max_word_fraction: float | None = None,
    ) -> TextAttackRecipe:
        check_word_budget(max_words, max_word_fraction)
        if needs_wordnet:
            require_wordnet()
        build = _bounded_recipe(recipe_class, max_words, max_word_fraction)
        return TextAttackRecipe(
            name, build, model, tokenizer, max_queries=max_queries, seed=seed, batch_size=batch_size
        )

    ATTACKS.register(name)(builder)


def _bounded_recipe(
    recipe_class: str, max_words: int | None, max_word_fraction: float | None, max_edit_distance: int | None = None
) -> RecipeBuild:
    def build(ta: Any, wrapper: Any) -> Any:
        published = getattr(ta.attack_recipes, recipe_class).build(wrapper)
        return bounded(ta, published, max_words, max_word_fraction, max_edit_distance)

    return build


@ATTACKS.register("textattack:deepwordbug")
def build_deepwordbug(
    model: TextClassifier,
    tokenizer: Any,
    *,
    max_queries: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    max_words: int | None = None,
    max_word_fraction: float | None = None,
    max_edit_distance: int = MAX_EDIT_DISTANCE,
) -> TextAttackRecipe:
    check_word_budget(max_words, max_word_fraction)
    check_edit_distance(max_edit_distance)
    build = _bounded_recipe("DeepWordBugGao2018", max_words, max_word_fraction, int(max_edit_distance))
    return TextAttackRecipe(
        "textattack:deepwordbug", build, model, tokenizer, max_queries=max_queries, seed=seed, batch_size=batch_size
    )


_published_recipe("textattack:pruthi", "Pruthi2019", default_max_words=1)  # Pruthi2019.build's max_num_word_swaps
_published_recipe("textattack:pwws", "PWWSRen2019", needs_wordnet=True)

EMBEDDING_SOURCES = ("teacher", "model")


def _word_vectors(source: str, model: TextClassifier, tokenizer: Any, k: int) -> WordVectors:
    if source == "teacher":
        return teacher_word_vectors(k)
    if source == "model":
        weight = model.input_embedding_weight()
        if weight is None:
            raise ConfigError(
                f"embedding_source='model' needs a model with an input embedding table; "
                f"{type(model).__name__} has none, use embedding_source='teacher'"
            )
        return model_word_vectors(weight, tokenizer, k)
    raise ConfigError(f"unknown embedding_source {source!r}; choose one of {', '.join(EMBEDDING_SOURCES)}")


@ATTACKS.register("textattack:embedding_swap")
def build_embedding_swap(
    model: TextClassifier,
    tokenizer: Any,
    *,
    max_queries: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    embedding_source: str = "teacher",
    max_candidates: int = 15,
    min_cos_sim: float = 0.4,
    max_words: int | None = None,
    max_word_fraction: float | None = None,
) -> TextAttackRecipe:
    check_word_budget(max_words, max_word_fraction)
    vectors = _word_vectors(embedding_source, model, tokenizer, max_candidates)

    def build(ta: Any, wrapper: Any) -> Any:
        from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
        from textattack.constraints.semantics import WordEmbeddingDistance
        from textattack.goal_functions import UntargetedClassification
        from textattack.search_methods import GreedyWordSwapWIR
        from textattack.shared import WordEmbedding
        from textattack.transformations import WordSwapEmbedding

        embedding = WordEmbedding(
            vectors.vectors, vectors.index(), dict(enumerate(vectors.words)), nn_matrix=vectors.neighbours
        )
        constraints = [
            RepeatModification(),
            StopwordModification(),
            WordEmbeddingDistance(embedding=embedding, min_cos_sim=min_cos_sim),
        ]
        budget = word_budget_constraint(max_words, max_word_fraction)
        constraints += [budget] if budget is not None else []
        return ta.Attack(
            UntargetedClassification(wrapper),
            constraints,
            WordSwapEmbedding(max_candidates=max_candidates, embedding=embedding),
            GreedyWordSwapWIR(wir_method="delete"),
        )

    return TextAttackRecipe(
        "textattack:embedding_swap", build, model, tokenizer, max_queries=max_queries, seed=seed, batch_size=batch_size
    )


@ATTACKS.register("textattack:hotflip_offline")
def build_hotflip_offline(
    model: TextClassifier,
    tokenizer: Any,
    *,
    max_queries: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
    max_words: int | None = 2,
    max_word_fraction: float | None = None,
    top_n: int = 1,
    beam_width: int = 10,
) -> TextAttackRecipe:
    check_word_budget(max_words, max_word_fraction)
    flips = GradientFlips(model, tokenizer, top_n=top_n)

    def build(ta: Any, wrapper: Any) -> Any:
        from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
        from textattack.goal_functions import UntargetedClassification
        from textattack.search_methods import BeamSearch
        from textattack.transformations import WordSwap

        class WordSwapGradientFlip(WordSwap):
            """TextAttack transformation proposing the project's first-order word flips."""

            def _get_transformations(self, current_text: Any, indices_to_modify: Any) -> list[Any]:
                request = FlipRequest(current_text.text, current_text.words, sorted(indices_to_modify))
                return [current_text.replace_word_at_index(i, word) for i, word, _ in flips.propose([request])[0]]

        constraints = [RepeatModification(), StopwordModification()]
        budget = word_budget_constraint(max_words, max_word_fraction)
        constraints += [budget] if budget is not None else []
        return ta.Attack(
            UntargetedClassification(wrapper), constraints, WordSwapGradientFlip(), BeamSearch(beam_width=beam_width)
        )

    return TextAttackRecipe(
        "textattack:hotflip_offline", build, model, tokenizer, max_queries=max_queries, seed=seed, batch_size=batch_size
    )
