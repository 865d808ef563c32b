"""Vocabulary pruning and teacher initialisation of a student's token embeddings.

Rows go to the tokens seen in the public training split (most frequent first when they do not
all fit) plus the special tokens; each row starts as the teacher's embedding of that token
projected onto its top principal components, so the student begins with the teacher's
lexical geometry at a fraction of the width. A factorized table keeps the whole vocabulary and
starts from the teacher's embeddings reduced to its rank.
"""

from __future__ import annotations

import torch

from fedrobust.models.base import TextClassifier
from fedrobust.models.embeddings import FactorizedEmbedding, PrunedEmbedding


def kept_token_ids(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: list[int], pad_id: int, capacity: int, min_count: int
) -> list[int]:
    counts = torch.bincount(input_ids[attention_mask == 1].flatten(), minlength=int(input_ids.max()) + 1)
    specials = [i for i in special_ids if i != pad_id]
    order = torch.argsort(counts, descending=True, stable=True)
    frequent = [int(i) for i in order if counts[i] >= min_count and int(i) not in specials and int(i) != pad_id]
    return specials + frequent[: max(0, capacity - len(specials))]


def pca_init(vectors: torch.Tensor, dim: int) -> torch.Tensor:
    """Project rows onto their top ``dim`` principal directions, rescaled to std dim ** -0.5."""
    centered = vectors - vectors.mean(dim=0, keepdim=True)
    _, _, v = torch.linalg.svd(centered, full_matrices=False)
    projected = centered @ v[:dim].T
    return projected * (dim**-0.5 / projected.std().clamp(min=1e-12))


def fit_vocabulary(
    student: TextClassifier,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    special_ids: list[int],
    pad_id: int,
    min_count: int = 1,
    teacher_embeddings: torch.Tensor | None = None,
) -> int:
    """Prune / initialise ``student``'s table; returns its number of token rows (0 if it has none)."""
    embedding = getattr(student, "embedding", None)
    if isinstance(embedding, FactorizedEmbedding):
        if teacher_embeddings is not None:
            embedding.set_table(pca_init(teacher_embeddings.float(), embedding.rank))
        return embedding.vocab_size
    if not isinstance(embedding, PrunedEmbedding):
        return 0
    kept = kept_token_ids(input_ids, attention_mask, special_ids, pad_id, embedding.num_embeddings - 2, min_count)
    init = None
    if teacher_embeddings is not None:
        init = pca_init(teacher_embeddings[torch.tensor(kept)].float(), embedding.dim)
    embedding.set_vocabulary(kept, pad_id, init)
    return len(kept)
