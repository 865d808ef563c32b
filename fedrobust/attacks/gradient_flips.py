"""HotFlip's first-order word flips: which (word, replacement) most increases the loss.

For a word whose tokens sit at positions P in the text, replacing it by the single vocabulary
token v changes the loss by about ``E[v] . g[P0] - sum_p e_p . g_p`` (g: gradient of the loss
w.r.t. the token embeddings e). Replacement tokens are whole words of the tokenizer's vocabulary.
Shared by fast_hotflip (as the transformation of a batched search, ``GradientWordFlips``) and
textattack:hotflip_offline (TextAttack's search).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from fedrobust.attacks.word_swaps import Swap, SwapRequest
from fedrobust.attacks.words import SplitText
from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier


@dataclass(frozen=True)
class FlipRequest:
    """One text to flip: its words, the word indices that may change, the label to move away from."""

    text: str
    words: Sequence[str]
    allowed: Sequence[int]
    label: int | None = None  # None: the model's current prediction


def _subsequence_at(haystack: list[int], needle: list[int], start: int) -> int:
    for i in range(start, len(haystack) - len(needle) + 1):
        if haystack[i : i + len(needle)] == needle:
            return i
    return -1


class GradientFlips:
    """Proposes the ``top_n`` best first-order word flips for many texts, batched."""

    def __init__(self, model: TextClassifier, tokenizer: Any, top_n: int = 1, batch_size: int = 128) -> None:
        weight = model.input_embedding_weight()
        if weight is None:
            raise ConfigError(
                f"gradient word flips need a model whose embed() is a lookup table; {type(model).__name__} has no "
                "input_embedding_weight() (e.g. hashed projections); use fast_deepwordbug or fast_pwws"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.top_n = top_n
        self.batch_size = batch_size
        self.special = set(tokenizer.special_token_ids()) if hasattr(tokenizer, "special_token_ids") else set()
        self.vocab_tokens = list(tokenizer.convert_ids_to_tokens(list(range(weight.shape[0]))))
        self.usable = torch.tensor([self._is_whole_word(i, t) for i, t in enumerate(self.vocab_tokens)], dtype=torch.bool)
        self._word_ids: dict[str, list[int]] = {}

    def _is_whole_word(self, token_id: int, token: str) -> bool:
        if token_id in self.special or (token.startswith("[") and token.endswith("]")):
            return False
        return any(c.isalpha() for c in token) and SplitText.from_text(token).words == (token,)

    def _learn_word_ids(self, words: Sequence[str]) -> None:
        missing = [w for w in dict.fromkeys(words) if w not in self._word_ids]
        for start in range(0, len(missing), 512):
            chunk = missing[start : start + 512]
            batch = self.tokenizer(chunk)
            for word, ids, mask in zip(chunk, batch["input_ids"].tolist(), batch["attention_mask"].tolist()):
                self._word_ids[word] = [i for i, m in zip(ids, mask) if m and i not in self.special]

    def _align(self, ids: list[int], words: Sequence[str]) -> list[list[int]]:
        """Token positions of each word in the text's ids ([] when absent, e.g. truncated away)."""
        positions, cursor = [], 0
        for word in words:
            needle = self._word_ids[word]
            at = _subsequence_at(ids, needle, cursor) if needle else -1
            if at < 0:
                positions.append([])
                continue
            positions.append(list(range(at, at + len(needle))))
            cursor = at + len(needle)
        return positions

    def propose(self, requests: Sequence[FlipRequest]) -> list[list[tuple[int, str, float]]]:
        """For each request: up to top_n (word index, replacement word, estimated loss increase)."""
        was_training = self.model.training
        self.model.eval()
        out: list[list[tuple[int, str, float]]] = []
        try:
            for start in range(0, len(requests), self.batch_size):
                out.extend(self._propose_batch(requests[start : start + self.batch_size]))
        finally:
            self.model.train(was_training)
        return out

    def _propose_batch(self, chunk: Sequence[FlipRequest]) -> list[list[tuple[int, str, float]]]:
        self._learn_word_ids([w for r in chunk for w in r.words])
        batch = self.tokenizer([r.text for r in chunk])
        embeddings = self.model.embed(batch["input_ids"]).detach().requires_grad_(True)
        logits = self.model.classify_embeddings(embeddings, batch["attention_mask"]).logits
        predicted = logits.argmax(dim=1).tolist()
        labels = torch.tensor([predicted[i] if r.label is None else r.label for i, r in enumerate(chunk)])
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, labels, reduction="sum"), embeddings)
        contribution = (grad * embeddings.detach()).sum(-1)  # (B, L): e_p . g_p
        # one row per (request, flippable word): gradient at its first token, minus its tokens' share
        owners, words, first_grads, current = [], [], [], []
        for row, request in enumerate(chunk):
            ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
            positions = self._align(ids, request.words)
            for i in request.allowed:
                if positions[i]:
                    owners.append(row)
                    words.append(i)
                    first_grads.append(grad[row, positions[i][0]])
                    current.append(contribution[row, positions[i]].sum())
        proposals: list[list[tuple[float, int, int]]] = [[] for _ in chunk]
        if owners:
            table = self.model.input_embedding_weight().detach()
            blocked = torch.where(self.usable, 0.0, float("-inf"))
            for start in range(0, len(owners), 512):
                stop = start + 512
                gains = torch.stack(first_grads[start:stop]) @ table.T - torch.stack(current[start:stop]).unsqueeze(1)
                gains += blocked
                for r, (owner, i) in enumerate(zip(owners[start:stop], words[start:stop])):
                    gains[r, self._word_ids[chunk[owner].words[i]]] = float("-inf")  # not a flip to itself
                values, tokens = gains.topk(min(self.top_n, gains.shape[1]), dim=1)
                for r, (owner, i) in enumerate(zip(owners[start:stop], words[start:stop])):
                    proposals[owner].extend((float(v), i, int(t)) for v, t in zip(values[r], tokens[r]) if math.isfinite(v))
        return [
            [(i, self.vocab_tokens[t], v) for v, i, t in sorted(found, key=lambda x: -x[0])[: self.top_n]]
            for found in proposals
        ]


class GradientWordFlips:
    """A word-swap transformation: each request's ``top_n`` best first-order flips, best first."""

    def __init__(self, flips: GradientFlips) -> None:
        self.flips = flips

    def __call__(self, requests: Sequence[SwapRequest]) -> list[list[Swap]]:
        proposals = self.flips.propose(
            [FlipRequest(r.split.render(r.words), r.words, r.indices, r.label) for r in requests]
        )
        return [[(index, word) for index, word, _gain in found] for found in proposals]
