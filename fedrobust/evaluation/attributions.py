"""Token attributions: how much each token's embedding pushes one class logit.

Two methods, chosen by name (``ATTRIBUTIONS``; config keys ``evaluate.attribution`` and
``federated.evaluate.attribution``, the distillation study's ``--attribution``):

- ``grad_x_input`` (the default): d logit[target] / d embedding * embedding, summed over the
  embedding dimension. One backward pass.
- ``integrated_gradients`` (Sundararajan et al. 2017): (embedding - baseline) times the mean
  gradient along the straight path from a baseline to the embedding, ``steps`` midpoint Riemann
  points (32 by default), evaluated in batches. The attributions of a text sum to
  f(embedding) - f(baseline) for the explained logit (completeness); ``TokenAttributions.completeness``
  carries both sides per text, so the approximation can be checked.

Where attributions are taken: on ``model.embed(input_ids)`` (fedrobust.models.base). For the
teacher (fedrobust.models.teacher.HFTeacher) that is BERT's *word* embeddings only: position and
token-type embeddings and the embedding LayerNorm are applied inside ``classify_embeddings``. This
matters for gradient x input: LayerNorm is invariant to scaling and shifting its input h = word +
position + type, so its gradient g at each position is (nearly) orthogonal to h, and g . word ~=
-g . (position + type). Gradient x input of a word embedding then mostly measures its position's
embedding, not the token. Integrated gradients integrates the gradient along the path and keeps
completeness whatever sits between the embedding and the logits.

The integrated-gradients baseline and its completeness check: fedrobust.evaluation.attribution_integrated_gradients.
"""

from __future__ import annotations

from typing import Any, Sequence

from fedrobust.evaluation import attribution_grad_x_input, attribution_integrated_gradients  # noqa: F401  (register)
from fedrobust.evaluation.attribution_base import (  # noqa: F401  (re-exported)
    ATTRIBUTIONS, DEFAULT_ATTRIBUTION, AttributionMethod, Completeness, TokenAttributions, special_ids,
)
from fedrobust.evaluation.attribution_grad_x_input import grad_x_input  # noqa: F401
from fedrobust.evaluation.attribution_integrated_gradients import (  # noqa: F401
    IG_BASELINES, IG_ROWS, IG_STEPS, IntegratedGradientsBatch, check_ig_options, completeness_gaps,
    integrated_gradients, integrated_gradients_batch,
)
from fedrobust.models.base import TextClassifier


def attribution_methods() -> list[str]:
    return ATTRIBUTIONS.names()


def attribute(
    model: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    targets: Sequence[int] | None = None,
    *,
    method: str = DEFAULT_ATTRIBUTION,
    **options: Any,
) -> TokenAttributions:
    """Token attributions by the named method (``ATTRIBUTIONS``); ``options`` go to it (e.g.
    ``steps`` and ``baseline`` for integrated gradients). ``targets`` default to the predictions."""
    return ATTRIBUTIONS.get(method)(model, tokenizer, texts, targets, **options)
