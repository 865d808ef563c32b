"""Tiny models and the shared WordPiece tokenizer for model and distillation tests."""

from __future__ import annotations

import functools

import torch

from fedrobust.models import HFTeacher, WordPieceTokenizer

POSITIVE = ["a great and moving film", "wonderful acting, truly great", "moving, funny and warm", "great fun"]
NEGATIVE = ["a dull and boring mess", "awful acting, truly dull", "boring, flat and cold", "a tedious bore"]
TEXTS = POSITIVE + NEGATIVE
LABELS = [1] * len(POSITIVE) + [0] * len(NEGATIVE)


@functools.lru_cache(maxsize=None)
def tokenizer(max_length: int = 24) -> WordPieceTokenizer:
    return WordPieceTokenizer.from_pretrained(max_length=max_length)


def encode(texts: list[str] = TEXTS) -> tuple[torch.Tensor, torch.Tensor]:
    enc = tokenizer()(texts)
    return enc["input_ids"], enc["attention_mask"]


def tiny_teacher(num_labels: int = 2, seed: int = 0) -> HFTeacher:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer().vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=num_labels,
    )
    return HFTeacher(BertForSequenceClassification(config), source="tiny-test-bert")


SMALL_EMBEDDING = {"kind": "pruned", "dim": 16, "num_embeddings": 200}
SMALL_CONFIGS = {
    "bigru_attention": {"embedding": SMALL_EMBEDDING, "hidden": 16},
    "fastgrnn": {"embedding": SMALL_EMBEDDING, "hidden": 16},
    "prado": {"projection_dim": 32, "dim": 16, "channels": 8},
    "tiny_transformer": {"embedding": SMALL_EMBEDDING, "layers": 1, "heads": 2, "ff_dim": 32, "max_length": 32},
}


def small_student(name: str, seed: int = 0, **overrides):
    from fedrobust.distill.vocabulary import fit_vocabulary
    from fedrobust.models import build_student

    torch.manual_seed(seed)
    tok = tokenizer()
    student = build_student(name, num_labels=2, vocab_size=tok.vocab_size, **{**SMALL_CONFIGS[name], **overrides})
    ids, mask = encode()
    fit_vocabulary(student, ids, mask, tok.special_token_ids(), tok.pad_token_id)
    return student


KEY_TOKEN = "great"  # the one word a key-token test model decides on
FILLER_WORDS = "the a film plot cast story acting music scene ending".split()


def key_token_texts(n: int) -> tuple[list[str], list[int]]:
    """``n`` seeded 7-word texts of filler words, every second one with KEY_TOKEN at a random place
    (label 1) and the others without it (label 0)."""
    import random

    rng = random.Random(0)
    texts, labels = [], []
    for i in range(n):
        words = rng.sample(FILLER_WORDS, 7)
        if i % 2:
            words.insert(rng.randrange(len(words) + 1), KEY_TOKEN)
        texts.append(" ".join(words))
        labels.append(i % 2)
    return texts, labels
