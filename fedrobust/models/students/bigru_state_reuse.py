"""Logits of one-word swaps on the BiGRU-attention student, reusing the original text's GRU states.

A swap leaves the ids before it and after it as they were. The forward GRU's states before the
swap and the backward GRU's states after it therefore equal the original text's, so only the
rest is run: the forward direction from the swap to the end, started from the text's state
just before the swap, and the backward direction from the swap down to the start, started from
the text's state just after it: about half the GRU work of a full pass. A text's states are
remembered for one round, so a greedy step's winning swap is the next step's text for free.

Attention pooling ``softmax_t(v . tanh(W [f_t; b_t] + c))`` runs on real positions only (no
padding), with ``tanh(x) = 2 sigmoid(2x) - 1`` (torch's tanh is several times slower than its
sigmoid on CPUs) and the constant ``-sum(v)`` dropped, which a softmax ignores.

This reads the student's parts (``embed``, ``gru``, ``pool.project``, ``pool.score``,
``dropout``, ``classifier``), so it checks itself against the model's forward on its first batch
and steps aside for good if the two disagree (say, after the student's code changed, or in a
subclass). The student offers it as ``swap_logits_reuser()`` (the ``SwapLogitsReuser`` contract
of ``fedrobust.models.base``); the word-swap attacks ask for it.
"""

from __future__ import annotations

import itertools
import logging
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from fedrobust.models.base import TextClassifier, TokenSwap

log = logging.getLogger(__name__)

_GRU_PARAMETERS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
_TOLERANCE = 1e-4
# a greedy step proposes a few swaps of one word; the ranking's leave-one-out groups (one swap
# per word) never become the next text, and remembering them would hold hundreds of MB
_MAX_SWAPS_REMEMBERED = 8


class _Packed(NamedTuple):
    """A packed GRU output and, per sequence, the start of each time step's rows in its data."""

    data: torch.Tensor
    step_start: np.ndarray  # (T,) row of the first sequence at each time step
    rank: np.ndarray  # (B,) position of each sequence within every time step


class BiGRUSwapLogits:
    """A ``SwapLogitsReuser`` for the BiGRU-attention student; build it with ``for_model``."""

    def __init__(self, model: TextClassifier) -> None:
        self.model = model
        self.checked = False
        self.enabled = True
        self.forget()

    @classmethod
    def for_model(cls, model: TextClassifier) -> "BiGRUSwapLogits | None":
        """None unless ``model`` (a BiGRU-attention student) has a plain one-layer BiGRU and a linear
        attention pooling (compression may have replaced them)."""
        gru = getattr(model, "gru", None)
        if type(gru) is not nn.GRU:
            return None
        if gru.num_layers != 1 or not gru.bidirectional or not gru.batch_first or gru.proj_size or not gru.bias:
            return None
        pool = getattr(model, "pool", None)
        if not isinstance(getattr(pool, "project", None), nn.Linear) or not isinstance(getattr(pool, "score", None), nn.Linear):
            return None
        if not isinstance(getattr(model, "classifier", None), nn.Module) or not isinstance(getattr(model, "dropout", None), nn.Module):
            return None
        return cls(model)

    # -- remembered texts ----------------------------------------------------------------------

    def forget(self) -> None:
        """Drop the remembered states (call when the model may have changed, e.g. between attacks)."""
        self._previous: dict[tuple[int, ...], torch.Tensor] = {}
        self._current: dict[tuple[int, ...], torch.Tensor] = {}

    def next_round(self) -> None:
        """Keep the states of the last round's texts and small groups' swaps; older ones go."""
        self._previous, self._current = self._current, {}

    def _texts(self, sequences: Sequence[list[int]]) -> list[torch.Tensor]:
        """Every text's GRU states [f; b] (length, 2H): remembered from the last round or run now."""
        keys = [tuple(ids) for ids in sequences]
        out = [self._current.get(key, self._previous.get(key)) for key in keys]
        missing = [k for k, text in enumerate(out) if text is None]
        if missing:
            flat, lengths = _flatten([sequences[k] for k in missing])
            packed = self._run(self.model.gru, flat, np.cumsum(lengths) - lengths, lengths, step=1)
            rows = torch.from_numpy(_packed_rows(packed, np.zeros(len(missing), dtype=np.int64), lengths))
            states = packed.data[rows]
            for k, a, b in zip(missing, *_bounds(lengths)):
                out[k] = states[a:b]
        for key, text in zip(keys, out):
            self._current[key] = text  # type: ignore[assignment]  (a text stays the base until a swap wins)
        return out  # type: ignore[return-value]

    # -- the two entry points ------------------------------------------------------------------

    def text_logits(self, texts: Sequence[list[int]]) -> np.ndarray | None:
        """Logits of whole texts (their states remembered for their swaps), or None when off."""
        if not self.enabled:
            return None
        with torch.inference_mode():
            logits = self._pooled_logits(torch.cat(self._texts(texts)), np.array([len(ids) for ids in texts]))
            if not self.checked:
                self._check(list(texts), logits)
        return logits if self.enabled else None

    def swap_logits(self, texts: Sequence[list[int]], swaps: Sequence[Sequence[TokenSwap]]) -> np.ndarray | None:
        """Logits of every swap of every text, in order, or None when this path is off (use the model)."""
        if not self.enabled:
            return None
        with torch.inference_mode():
            logits = self._swap_logits(texts, swaps)
            if not self.checked:
                self._check([swap[0] for group in swaps for swap in group], logits)
        return logits if self.enabled else None

    # -- the computation -----------------------------------------------------------------------

    def _swap_logits(self, bases: Sequence[list[int]], groups: Sequence[Sequence[TokenSwap]]) -> np.ndarray:
        hidden = self.model.gru.hidden_size
        forward_gru, backward_gru = self._directions()
        texts = self._texts(bases)
        text_start = np.cumsum([0] + [len(t) for t in texts])[:-1]
        stored = int(text_start[-1]) + len(texts[-1])

        group_of = np.array([g for g, group in enumerate(groups) for _ in group])
        swaps = [swap for group in groups for swap in group]
        flat, length = _flatten([ids for ids, _, _ in swaps])
        offset = np.cumsum(length) - length
        text_length = np.array([len(t) for t in texts])[group_of]
        text_row = text_start[group_of]
        # each direction runs at least one id so every sequence is non-empty
        prefix = np.minimum([p for _, p, _ in swaps], length - 1)
        suffix = np.minimum([q for _, _, q in swaps], length - 1)
        cut = length - suffix

        text_states = torch.cat(texts)
        zero = torch.zeros(1, hidden)
        start_forward = torch.cat([zero, text_states[:, :hidden]])[torch.from_numpy(np.where(prefix > 0, text_row + prefix, 0))]
        start_backward = torch.cat([zero, text_states[:, hidden:]])[
            torch.from_numpy(np.where(suffix > 0, text_row + text_length - suffix + 1, 0))
        ]
        # forward: ids[prefix:] of each swap; backward: ids[:cut] read from the end
        new_forward = self._run(forward_gru, flat, offset + prefix, length - prefix, 1, start_forward[None])
        new_backward = self._run(backward_gru, flat, offset + cut - 1, cut, -1, start_backward[None])

        # every real position of every swap, swap after swap: where its two halves come from
        swap_of = np.repeat(np.arange(len(swaps)), length)
        t = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
        before = t < prefix[swap_of]
        forward_rows = np.where(
            before, text_row[swap_of] + t, stored + _packed_rows(new_forward, prefix, length, swap_of, t)
        )
        after = t >= cut[swap_of]
        backward_rows = np.where(
            after,
            text_row[swap_of] + (text_length - length)[swap_of] + t,
            stored + _packed_rows(new_backward, np.zeros_like(cut), cut, swap_of, cut[swap_of] - 1 - t),
        )
        states = torch.cat(
            [
                torch.cat([text_states[:, :hidden], new_forward.data])[torch.from_numpy(forward_rows)],
                torch.cat([text_states[:, hidden:], new_backward.data])[torch.from_numpy(backward_rows)],
            ],
            dim=1,
        )
        self._remember(groups, length, states)
        return self._pooled_logits(states, length)

    def _pooled_logits(self, states: torch.Tensor, lengths: np.ndarray) -> np.ndarray:
        """The student's attention pooling and classifier over the real positions (N, 2H) of texts."""
        model = self.model
        project = model.pool.project
        bias = None if project.bias is None else 2.0 * project.bias
        activation = torch.sigmoid_(F.linear(states, 2.0 * project.weight, bias))  # (N, A): (tanh + 1) / 2
        scores = 2.0 * (activation @ model.pool.score.weight[0])
        valid = torch.from_numpy(np.arange(int(lengths.max()))[None, :] < lengths[:, None])
        matrix = torch.full(valid.shape, torch.finfo(scores.dtype).min)
        matrix[valid] = scores
        weights = torch.softmax(matrix, dim=1)[valid]
        row_of = torch.from_numpy(np.repeat(np.arange(len(lengths)), lengths))
        pooled = torch.zeros(len(lengths), states.shape[1]).index_add_(0, row_of, weights[:, None] * states)
        return model.classifier(model.dropout(pooled)).float().numpy()

    def _remember(self, groups: Sequence[Sequence[TokenSwap]], lengths: np.ndarray, states: torch.Tensor) -> None:
        """Keep the swaps of small groups: a greedy step's winner is the next text."""
        swap = 0
        starts, ends = _bounds(lengths)
        for group in groups:
            if len(group) <= _MAX_SWAPS_REMEMBERED:
                for k, (ids, _, _) in enumerate(group):
                    a, b = starts[swap + k], ends[swap + k]
                    self._current[tuple(ids)] = states[a:b]
            swap += len(group)

    def _directions(self) -> tuple[nn.GRU, nn.GRU]:
        """One-direction GRUs sharing the student's parameters (so they follow its training)."""
        gru = self.model.gru
        key = tuple(id(getattr(gru, name + suffix)) for suffix in ("", "_reverse") for name in _GRU_PARAMETERS)
        if getattr(self, "_key", None) != key:
            self._forward, self._backward = (nn.GRU(gru.input_size, gru.hidden_size, batch_first=True) for _ in range(2))
            for name in _GRU_PARAMETERS:
                setattr(self._forward, name, getattr(gru, name))
                setattr(self._backward, name, getattr(gru, name + "_reverse"))
            self._key = key
        return self._forward, self._backward

    def _run(
        self, gru: nn.GRU, flat: np.ndarray, first: np.ndarray, lengths: np.ndarray, step: int, start: torch.Tensor | None = None
    ) -> _Packed:
        """The GRU over sequences of ids ``flat[first + step * j]``, j < length, packed as
        ``pack_padded_sequence`` would pack them (built in numpy)."""
        order = np.argsort(-lengths, kind="stable")
        sorted_lengths = lengths[order]
        steps, rows = np.nonzero(np.arange(int(sorted_lengths[0]))[:, None] < sorted_lengths[None, :])  # time-major
        ids = flat[first[order][rows] + step * steps]
        batch_sizes = np.bincount(steps)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        embedded = self.model.embed(torch.from_numpy(ids)[None])[0]
        packed = PackedSequence(embedded, torch.from_numpy(batch_sizes), torch.from_numpy(order), torch.from_numpy(rank))
        output, _ = gru(packed, start)
        return _Packed(output.data, np.cumsum(batch_sizes) - batch_sizes, rank)

    def _check(self, sequences: list[list[int]], logits: np.ndarray) -> None:
        ids = sequences[:32]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([x + [0] * (width - len(x)) for x in ids])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])
        expected = self.model(input_ids, mask).float().numpy()
        error = float(np.abs(expected - logits[: len(ids)]).max())
        self.checked = True
        if error > _TOLERANCE:
            self.enabled = False
            log.warning("state reuse for %s off: its logits differ from the model's by %.2g", type(self.model).__name__, error)


def _flatten(sequences: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """All ids one after another, and each sequence's length."""
    lengths = np.fromiter((len(x) for x in sequences), dtype=np.int64, count=len(sequences))
    return np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum())), lengths


def _bounds(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ends = np.cumsum(lengths)
    return ends - lengths, ends


def _packed_rows(
    packed: _Packed,
    offset: np.ndarray,
    lengths: np.ndarray,
    sequence: np.ndarray | None = None,
    step: np.ndarray | None = None,
) -> np.ndarray:
    """Rows of ``packed.data`` at (sequence, step); by default every step of every sequence in order.

    ``offset``/``lengths`` give, per sequence, where its own steps begin in the positions asked for;
    with ``sequence``/``step`` given, ``step - offset[sequence]`` is the GRU step (clipped rows of
    positions outside a sequence are computed but must be masked out by the caller).
    """
    if sequence is None:
        sequence = np.repeat(np.arange(len(lengths)), lengths)
        step = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    gru_step = np.clip(step - offset[sequence], 0, len(packed.step_start) - 1)  # type: ignore[operator]
    return packed.step_start[gru_step] + packed.rank[sequence]

