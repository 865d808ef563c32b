"""Tiny models and a word-level tokenizer for the attack and evaluation tests.

The tokenizer follows the project's tokenizer contract; the models are real TextClassifiers whose
behaviour is set by hand, so the expected attack outcome is known in advance.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from fedrobust.models.base import ClassifierOutput, TextClassifier

PAD, UNK = "[PAD]", "[UNK]"


class WordTokenizer:
    """Lower-cased word-level tokenizer: ``tokenizer(texts) -> {"input_ids", "attention_mask"}``."""

    def __init__(self, vocabulary: list[str], max_length: int = 32) -> None:
        self.tokens = [PAD, UNK] + sorted(set(vocabulary) - {PAD, UNK})
        self.ids = {tok: i for i, tok in enumerate(self.tokens)}
        self.max_length = max_length
        self.pad_token_id, self.unk_token_id = 0, 1

    def _encode(self, text: str) -> list[int]:
        words = re.findall(r"\[UNK\]|\w+", text.lower())
        return [self.ids.get(w.upper() if w == "[unk]" else w, 1) for w in words][: self.max_length] or [1]

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        encoded = [self._encode(t) for t in texts]
        width = max(len(e) for e in encoded)
        ids = torch.zeros(len(texts), width, dtype=torch.long)
        mask = torch.zeros(len(texts), width, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
            mask[row, : len(e)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]


class BagOfWordsClassifier(TextClassifier):
    """Sum of token embeddings -> linear layer; embeddings are the (V, D) lookup table."""

    def __init__(self, vocab_size: int, num_labels: int = 2, dim: int = 8) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.head = nn.Linear(dim, num_labels)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        pooled = (embeddings * attention_mask.unsqueeze(-1).to(embeddings.dtype)).sum(dim=1)
        return ClassifierOutput(logits=self.head(pooled), features=pooled)

    def input_embedding_weight(self) -> torch.Tensor:
        return self.embedding.weight


SENTENCES = [
    ("the film was good and the cast was charming", 1),
    ("a good story with a clever script", 1),
    ("good acting saves this quiet little drama", 1),
    ("the plot is dull and the jokes fall flat", 0),
    ("an awful mess of a movie", 0),
    ("boring characters in a tired story", 0),
]
TEXTS = [text for text, _ in SENTENCES]
LABELS = [label for _, label in SENTENCES]
VOCABULARY = sorted({w for text in TEXTS for w in text.split()} | {"great", "fine", "well"})


def keyword_model(tokenizer: WordTokenizer, keyword: str = "good") -> BagOfWordsClassifier:
    """Brittle by construction: predicts 1 exactly when ``keyword`` is present."""
    model = BagOfWordsClassifier(tokenizer.vocab_size, num_labels=2, dim=2)
    with torch.no_grad():
        model.embedding.weight.zero_()
        model.embedding.weight[tokenizer.ids[keyword]] = torch.tensor([0.0, 10.0])
        model.head.weight.copy_(torch.eye(2))
        model.head.bias.copy_(torch.tensor([1.0, -1.0]))
    return model.eval()


def constant_model(tokenizer: WordTokenizer, label: int = 0) -> BagOfWordsClassifier:
    """Ignores its input: always predicts ``label`` with the same confidence."""
    model = BagOfWordsClassifier(tokenizer.vocab_size, num_labels=2, dim=2)
    with torch.no_grad():
        model.embedding.weight.zero_()
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([2.0, 0.0] if label == 0 else [0.0, 2.0]))
    return model.eval()
