"""TextAttack recipes by name, built lazily (TextAttack is imported only when one is built).

``textattack:deepwordbug``, ``textattack:pruthi`` and ``textattack:pwws`` are the published
recipes unchanged. ``textattack:hotflip_offline`` is HotFlip in TextAttack's machinery (its goal,
constraints and beam search) with the project's gradient word flips as the transformation, since
TextAttack's own gradient swap accepts only its word-level LSTM/CNN models; it checks
fast_hotflip's batched search. ``textattack:embedding_swap`` is assembled from TextAttack parts: TextFooler's
transformation, search and embedding-distance constraint over word vectors that exist offline
(the teacher's whole-word WordPiece embeddings by default), without the constraints that need
downloads (Universal Sentence Encoder, POS tagger). Those vectors are not counter-fitted, so
close neighbours can be antonyms; read its numbers as a stress test, not as TextFooler.
"""

from __future__ import annotations

from typing import Any

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.embedding_neighbours import WordVectors, model_word_vectors, teacher_word_vectors
from fedrobust.attacks.gradient_flips import FlipRequest, GradientFlips
from fedrobust.attacks.nltk_env import require_wordnet
from fedrobust.attacks.textattack_runner import TextAttackRecipe
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier


def _published_recipe(name: str, recipe_class: str, needs_wordnet: bool = False) -> None:
    def builder(
        model: TextClassifier, tokenizer: Any, *, max_queries: int | None = None, seed: int = 0, batch_size: int = 64
    ) -> TextAttackRecipe:
        if needs_wordnet:
            require_wordnet()
        return TextAttackRecipe(
            name,
            lambda ta, wrapper: getattr(ta.attack_recipes, recipe_class).build(wrapper),
            model,
            tokenizer,
            max_queries=max_queries,
            seed=seed,
            batch_size=batch_size,
        )

    ATTACKS.register(name)(builder)


_published_recipe("textattack:deepwordbug", "DeepWordBugGao2018")
_published_recipe("textattack:pruthi", "Pruthi2019")
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
) -> TextAttackRecipe:
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
    max_words: int = 2,
    top_n: int = 1,
    beam_width: int = 10,
) -> TextAttackRecipe:
    flips = GradientFlips(model, tokenizer, top_n=top_n)

    def build(ta: Any, wrapper: Any) -> Any:
        from textattack.constraints.overlap import MaxWordsPerturbed
        from textattack.constraints.pre_transformation import RepeatModification, StopwordModification
        from textattack.goal_functions import UntargetedClassification
        from textattack.search_methods import BeamSearch
        from textattack.transformations import WordSwap

        class WordSwapGradientFlip(WordSwap):
            """TextAttack transformation proposing the project's first-order word flips."""

            def _get_transformations(self, current_text: Any, indices_to_modify: Any) -> list[Any]:
                request = FlipRequest(current_text.text, current_text.words, sorted(indices_to_modify))
                return [current_text.replace_word_at_index(i, word) for i, word, _ in flips.propose([request])[0]]

        constraints = [RepeatModification(), StopwordModification(), MaxWordsPerturbed(max_num_words=max_words)]
        return ta.Attack(
            UntargetedClassification(wrapper), constraints, WordSwapGradientFlip(), BeamSearch(beam_width=beam_width)
        )

    return TextAttackRecipe(
        "textattack:hotflip_offline", build, model, tokenizer, max_queries=max_queries, seed=seed, batch_size=batch_size
    )
