"""A static token table distilled from the teacher's contextual states, to start students from.

A transformer's input embeddings are a weak lexical prior: they are what the first layer reads,
not what the model knows about a word. Averaging a token's last-layer states over its
occurrences gives a static vector that keeps much of the contextual model's lexical knowledge
(Bommasani et al. 2020, "Interpreting pretrained contextualized representations via reductions
to static embeddings"); taken from the fine-tuned teacher it also carries the task, e.g. a
word's polarity. Tokens that never occur in the cached texts get a linear map from the input
embeddings to the averaged states, fitted by (lightly ridged) least squares on the seen tokens.
"""

from __future__ import annotations

import torch


class TokenStateSums:
    """Running per-token sums of states over the batches of a teacher pass."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.sums = torch.zeros(vocab_size, 0)  # sized by the first batch: state and embedding widths may differ
        self.counts = torch.zeros(vocab_size)

    def add(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, states: torch.Tensor) -> None:
        if self.sums.shape[1] != states.shape[-1]:
            self.sums = torch.zeros(self.vocab_size, states.shape[-1])
        real = attention_mask.bool()
        ids = input_ids[real]
        self.sums.index_add_(0, ids, states[real].detach().float())
        self.counts.index_add_(0, ids, torch.ones(len(ids)))


def contextual_token_table(
    sums: torch.Tensor, counts: torch.Tensor, input_embeddings: torch.Tensor, min_fit_count: int = 3
) -> torch.Tensor:
    """One row per vocabulary token: its mean state where seen, else the fitted map of its input embedding."""
    seen = counts >= 1
    means = sums / counts.clamp(min=1).unsqueeze(1)
    table = means.clone()
    fit = counts >= min_fit_count
    if int(fit.sum()) <= input_embeddings.shape[1]:  # a small corpus: fit on every seen token
        fit = seen
    if (~seen).any():
        with_bias = torch.cat([input_embeddings.float(), torch.ones(len(input_embeddings), 1)], dim=1)
        x = with_bias[fit]
        gram = x.T @ x
        # a light ridge keeps the fit well-posed when few tokens were seen; negligible otherwise
        ridge = 1e-3 * gram.diagonal().mean() * torch.eye(len(gram))
        mapping = torch.linalg.solve(gram + ridge, x.T @ means[fit])
        table[~seen] = with_bias[~seen] @ mapping
    return table
