"""The BiGRU-attention student written as batched matrix products over a stack of weights: slice k of
every stacked tensor is one copy of the model (a device's weights in stacked personalization, one
text's copy for per-sample gradients in stacked DP-SGD), so the gradient of a summed loss puts each
copy's own gradient in its slice.

Weights are laid out for ``x @ W`` (the transpose of torch's ``nn.Linear`` and ``nn.GRU`` weights),
biases as (1, n) rows, the embedding table as each copy's own rows (compact indices). The GRU runs
step by step in both directions; positions where the mask is 0 keep the state and output zeros, as
a packed sequence does, so the result equals the student's packed forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def parameter_layout(model: nn.Module) -> dict[str, tuple[nn.Parameter, bool]]:
    """Stacked name -> (the student's parameter, stored transposed) for every weight but the embedding
    table (each copy holds only its own rows of it); untransposed ones are biases, stored as (1, n)."""
    gru, pool = model.gru, model.pool
    return {
        "project": (model.embedding.project.weight, True),
        "w_ih": (gru.weight_ih_l0, True), "w_hh": (gru.weight_hh_l0, True),
        "b_ih": (gru.bias_ih_l0, False), "b_hh": (gru.bias_hh_l0, False),
        "w_ih_r": (gru.weight_ih_l0_reverse, True), "w_hh_r": (gru.weight_hh_l0_reverse, True),
        "b_ih_r": (gru.bias_ih_l0_reverse, False), "b_hh_r": (gru.bias_hh_l0_reverse, False),
        "att_w": (pool.project.weight, True), "att_b": (pool.project.bias, False),
        "att_v": (pool.score.weight, True),
        "head_w": (model.classifier.weight, True), "head_b": (model.classifier.bias, False),
    }


def stacked_view(param: torch.Tensor, transposed: bool) -> torch.Tensor:
    """One copy of ``param`` as the stacked forward reads it (``x @ W`` layout, biases as rows)."""
    return param.detach().t() if transposed else param.detach()[None]


def gru_direction(gates_in: torch.Tensor, mask: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor,
                  reverse: bool) -> torch.Tensor:
    """One GRU direction over (K, B, L, 3H) input gates; positions where ``mask`` is 0 keep the state
    and output zeros (as a packed sequence would)."""
    k, b, length, three_h = gates_in.shape
    hidden = three_h // 3
    state = gates_in.new_zeros(k, b, hidden)
    outputs: list[torch.Tensor] = [gates_in.new_zeros(0)] * length
    steps = range(length - 1, -1, -1) if reverse else range(length)
    keep_all = mask[..., None]
    for t in steps:
        gates_h = torch.baddbmm(b_hh, state, w_hh)
        x_t = gates_in[:, :, t]
        reset_update = torch.sigmoid(x_t[..., :2 * hidden] + gates_h[..., :2 * hidden])
        reset, update = reset_update[..., :hidden], reset_update[..., hidden:]
        candidate = torch.tanh(x_t[..., 2 * hidden:] + reset * gates_h[..., 2 * hidden:])
        new_state = candidate + update * (state - candidate)  # (1 - z) n + z h
        keep = keep_all[:, :, t]
        state = torch.where(keep, new_state, state)
        outputs[t] = state
    # past a text's end the state is kept; its outputs there are zero (as a packed sequence's)
    return torch.stack(outputs, dim=2) * keep_all


def stacked_logits(p: dict[str, torch.Tensor], rows: torch.Tensor, mask: torch.Tensor, embedding_drop: torch.Tensor,
            feature_drop: torch.Tensor) -> torch.Tensor:
    """(K, B, C) logits of the stacked model on compact row indices ``rows`` (K, B, L), with the
    dropout masks already scaled by 1 / (1 - p)."""
    k, b, length = rows.shape
    height = p["table"].shape[1]
    flat_rows = (rows + torch.arange(k)[:, None, None] * height).reshape(-1)
    looked_up = F.embedding(flat_rows, p["table"].reshape(k * height, -1)).reshape(k, b * length, -1)
    embedded = torch.bmm(looked_up, p["project"]) * embedding_drop.reshape(k, b * length, -1)
    states = []
    for suffix, reverse in (("", False), ("_r", True)):
        gates_in = torch.baddbmm(p["b_ih" + suffix], embedded, p["w_ih" + suffix]).reshape(k, b, length, -1)
        states.append(gru_direction(gates_in, mask, p["w_hh" + suffix], p["b_hh" + suffix], reverse))
    both = torch.cat(states, dim=-1).reshape(k, b * length, -1)
    scores = torch.bmm(torch.tanh(torch.baddbmm(p["att_b"], both, p["att_w"])), p["att_v"]).reshape(k, b, length)
    weights = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)
    pooled = torch.bmm(weights.reshape(k * b, 1, length), both.reshape(k * b, length, -1)).reshape(k, b, -1)
    return torch.baddbmm(p["head_b"], pooled * feature_drop, p["head_w"])
