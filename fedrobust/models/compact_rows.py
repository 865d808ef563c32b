"""Training a large embedding table on a few texts through only the rows those texts reach.

A device holds a handful of texts, which reach a few dozen rows of a 30,000-row table; yet a plain
backward pass writes a dense gradient for the whole table and the optimizer steps every row of it
(about half the time of a step of the compact students). Inside ``compact_embedding_rows`` each
large trainable ``nn.Embedding`` is replaced by one holding only the rows the given ids reach, the
optimizer steps those, and the trained rows are written back after.

This is exact for optimizers under which a parameter entry whose gradient has always been zero
does not move (Adam, and SGD with or without momentum, from a fresh state and without weight
decay): every row outside the reached set keeps a zero gradient, so the full table's step would
leave it as it is. Nothing may read the table's weight directly inside (a penalty on all weights,
for instance); callers that need that do not use this.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

MIN_ROWS = 4096  # smaller tables cost little to step in full


class CompactRows(nn.Module):
    """Stands in for an ``nn.Embedding``: the rows ``rows`` of its weight, looked up by full-table
    index (an index outside ``rows`` fails loudly)."""

    def __init__(self, table: nn.Embedding, rows: torch.Tensor) -> None:
        super().__init__()
        self.rows = rows
        self.weight = nn.Parameter(table.weight.detach()[rows].clone(), requires_grad=table.weight.requires_grad)
        position = torch.full((table.num_embeddings,), -1, dtype=torch.long)
        position[rows] = torch.arange(len(rows))
        self.position = position
        pad = table.padding_idx
        self.padding_idx = int(position[pad]) if pad is not None and int(position[pad]) >= 0 else None

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(self.position[indices], self.weight, self.padding_idx)


def _large_trainable_tables(model: nn.Module, trainable: set[int]) -> list[tuple[nn.Module, str, nn.Embedding]]:
    found = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if (isinstance(child, nn.Embedding) and id(child.weight) in trainable and child.num_embeddings >= MIN_ROWS
                    and child.max_norm is None and not child.scale_grad_by_freq and not child.sparse):
                found.append((parent, name, child))
    return found


def _rows_reached(model: nn.Module, tables: list[nn.Embedding], input_ids: torch.Tensor) -> list[torch.Tensor]:
    """The rows of each table that looking up ``input_ids`` reads (recorded during one forward pass of
    the model's embedding, or of the whole model where it has no ``embed``)."""
    seen: list[list[torch.Tensor]] = [[] for _ in tables]
    hooks = [table.register_forward_pre_hook(lambda _m, args, k=k: seen[k].append(args[0].detach().reshape(-1)))
             for k, table in enumerate(tables)]
    was_training = model.training
    model.eval()  # no dropout: this pass must not draw from the training's random stream
    try:
        with torch.no_grad():
            if hasattr(model, "embed"):
                model.embed(input_ids)
            else:
                model(input_ids, torch.ones_like(input_ids))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return [torch.unique(torch.cat(found)) if found else torch.empty(0, dtype=torch.long) for found in seen]


@contextlib.contextmanager
def compact_embedding_rows(
    model: nn.Module, input_ids: torch.Tensor, parameters: list[nn.Parameter],
) -> Iterator[list[nn.Parameter]]:
    """Yields ``parameters`` with each large embedding table's weight replaced by the weight of its
    compact stand-in (the rows that ``input_ids`` reach); the model uses the stand-ins inside, and
    its tables hold the trained rows after."""
    trainable = {id(p) for p in parameters}
    found = _large_trainable_tables(model, trainable)
    if not found:
        yield parameters
        return
    rows = _rows_reached(model, [table for _, _, table in found], input_ids)
    stand_ins = [CompactRows(table, reached) for (_, _, table), reached in zip(found, rows)]
    replaced = {id(table.weight): stand_in.weight for (_, _, table), stand_in in zip(found, stand_ins)}
    for (parent, name, _), stand_in in zip(found, stand_ins):
        setattr(parent, name, stand_in)
    try:
        yield [replaced.get(id(p), p) for p in parameters]
    finally:
        for (parent, name, table), stand_in in zip(found, stand_ins):
            with torch.no_grad():
                table.weight[stand_in.rows] = stand_in.weight.detach()
            setattr(parent, name, table)
