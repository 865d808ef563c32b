"""fedrobust.evaluation.faithfulness on models whose reasons are known by construction: one that
decides on a single token (its attributions point at it, so deleting by attribution must hurt faster
than deleting at random) and one that ignores every token (no difference at all)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fedrobust.evaluation.faithfulness import area, faithfulness, taken, variant
from fedrobust.models.base import ClassifierOutput, TextClassifier
from tests.models_helpers import KEY_TOKEN, key_token_texts, tokenizer

KEY = KEY_TOKEN


class OneTokenModel(TextClassifier):
    """Class 1 when the key token is in the text, else class 0. The embedding's first coordinate is
    1 on the key token and 0 elsewhere, so gradient x input is zero on every other token."""

    num_labels = 2

    def __init__(self, key_id: int, vocab_size: int) -> None:
        super().__init__()
        table = torch.zeros(vocab_size, 2)
        table[:, 1] = 1.0
        table[key_id] = torch.tensor([1.0, 0.0])
        self.table = nn.Embedding.from_pretrained(table, freeze=False)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        evidence = (embeddings[..., 0] * attention_mask).sum(dim=1)
        logits = torch.stack([torch.full_like(evidence, 0.5), 4.0 * evidence], dim=1)
        return ClassifierOutput(logits=logits, features=evidence[:, None])


class ConstantModel(OneTokenModel):
    """Reads its inputs (so gradients exist) but multiplies them by zero: always class 1."""

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        evidence = 0.0 * embeddings.sum(dim=(1, 2))
        logits = torch.stack([evidence, evidence + 1.0], dim=1)
        return ClassifierOutput(logits=logits, features=evidence[:, None])


def _texts(n: int = 40) -> tuple[list[str], list[int]]:
    return key_token_texts(n)


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


def test_deleting_the_deciding_token_first_hurts_faster_than_random_deletion(tok):
    model = OneTokenModel(tok.hf.convert_tokens_to_ids(KEY), tok.vocab_size)
    texts, labels = _texts()
    rows, summary = faithfulness(model, tok, texts, labels, seed=3)
    deletion, insertion = summary["deletion"], summary["insertion"]
    assert summary["texts"] == 40 and deletion["acc_curve"][0] == 1.0  # the model is right on every full text
    # with the key: its attribution is the only non-zero one, so one deleted token flips the prediction
    # (the random order takes the key first on some texts too: a tie there)
    with_key = [r for r in rows if r["label"] == 1]
    assert all(r["deletion_acc_auc"] <= r["deletion_acc_auc_random"] for r in with_key)
    assert sum(r["deletion_acc_auc"] < r["deletion_acc_auc_random"] for r in with_key) >= 15
    assert all(r["insertion_acc_auc"] >= r["insertion_acc_auc_random"] for r in with_key)
    assert deletion["auc_diff"]["mean"] < -0.1 and deletion["auc_diff"]["ci95"][1] < 0 and deletion["auc_diff"]["detected"]
    assert insertion["auc_diff"]["mean"] > 0.1 and insertion["auc_diff"]["ci95"][0] > 0
    assert deletion["acc_auc_diff"]["ci95"][1] < 0
    # without the key every attribution is 0 and nothing deleted changes the prediction: no difference
    assert all(r["deletion_auc_diff"] == 0 and r["insertion_acc_auc_diff"] == 0 for r in rows if r["label"] == 0)
    # attributed deletion of a text with the key: p(class 1) is sigmoid(4 - 0.5) on the full text and
    # sigmoid(-0.5) from the first step (10%: one token, the key) on
    full, without = torch.sigmoid(torch.tensor(3.5)).item(), torch.sigmoid(torch.tensor(-0.5)).item()
    assert rows[1]["deletion_auc"] == pytest.approx(area(summary["fractions"], [full] + [without] * 10))


def test_a_model_that_ignores_its_tokens_shows_no_difference(tok):
    model = ConstantModel(tok.hf.convert_tokens_to_ids(KEY), tok.vocab_size)
    texts, labels = _texts(20)
    rows, summary = faithfulness(model, tok, texts, labels, seed=3)
    for mode in ("deletion", "insertion"):
        diff = summary[mode]["auc_diff"]
        assert diff["mean"] == 0 and diff["ci95"] == [0.0, 0.0] and not diff["detected"]
        assert summary[mode]["acc_curve"] == summary[mode]["acc_curve_random"] == [0.5] * 11
    assert all(r["original_class"] == 1 for r in rows)


def test_the_random_order_is_seeded_and_the_steps_take_ceil_fractions(tok):
    model = OneTokenModel(tok.hf.convert_tokens_to_ids(KEY), tok.vocab_size)
    texts, labels = _texts(6)
    first, _ = faithfulness(model, tok, texts, labels, seed=5)
    again, _ = faithfulness(model, tok, texts, labels, seed=5)
    assert first == again
    assert [taken(7, f) for f in (0.0, 0.1, 0.5, 1.0)] == [0, 1, 4, 7]
    ids = [101, 7, 8, 9, 102]
    assert variant(ids, [2, 3, 1], 1, "deletion", 0) == (101, 7, 9, 102)
    assert variant(ids, [2, 3, 1], 2, "insertion", 0) == (101, 8, 9, 102)
    assert variant([7], [0], 1, "deletion", 0) == (0,)
    assert area([0, 0.5, 1], [1, 0, 0]) == pytest.approx(0.25)
