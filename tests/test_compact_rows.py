"""Training through the rows a device's texts reach gives bit-for-bit the weights of training the
whole embedding table."""

from __future__ import annotations

import copy

import pytest
import torch

import fedrobust.models.compact_rows as compact_rows
import fedrobust.models.students  # noqa: F401
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.models.registry import build_student
from tests.federated_helpers import tokenizer

TEXTS = ["the flight was late again", "great crew and a smooth landing", "lost my bag", "ok I guess",
         "never flying with them again", "thanks for the upgrade"]
LABELS = [0, 2, 0, 1, 0, 2]
EMBEDDINGS = {"factorized": {"kind": "factorized", "dim": 8, "rank": 4},
              "pruned": {"kind": "pruned", "dim": 8, "num_embeddings": 6000}}


def _student(kind: str):
    torch.manual_seed(0)
    return build_student("bigru_attention", num_labels=3, vocab_size=tokenizer().vocab_size, hidden=8,
                         embedding=EMBEDDINGS[kind])


def _trained(model, settings: TrainSettings, monkeypatch, compact: bool):
    monkeypatch.setattr(compact_rows, "MIN_ROWS", 4096 if compact else 10**9)
    model = copy.deepcopy(model)
    train_locally(model, tokenizer(), TEXTS, LABELS, settings, seed=3)
    return model.state_dict()


@pytest.mark.parametrize("kind", sorted(EMBEDDINGS))
@pytest.mark.parametrize("settings", [TrainSettings(3, 0.01, 2), TrainSettings(2, 0.05, 4, optimizer="sgd"),
                                      TrainSettings(2, 0.01, 3, adversarial=True)], ids=["adam", "sgd", "adversarial"])
def test_compact_rows_train_exactly_like_the_full_table(kind, settings, monkeypatch):
    model = _student(kind)
    full = _trained(model, settings, monkeypatch, compact=False)
    compact = _trained(model, settings, monkeypatch, compact=True)
    assert full.keys() == compact.keys()
    changed = [k for k in full if not torch.equal(full[k], model.state_dict()[k])]
    assert any("table" in k for k in changed)  # the table did train
    for key in full:
        assert torch.equal(full[key], compact[key]), key


def test_the_stand_in_is_used_inside_and_removed_after():
    model = _student("factorized")
    ids = tokenizer()(TEXTS)["input_ids"]
    table = model.embedding.table
    params = list(model.parameters())
    with compact_rows.compact_embedding_rows(model, ids, params) as stepped:
        stand_in = model.embedding.table
        assert isinstance(stand_in, compact_rows.CompactRows) and stand_in.weight in stepped
        assert len(stand_in.rows) == len(torch.unique(ids)) < table.num_embeddings
        with torch.no_grad():
            stand_in.weight.add_(1.0)
        with pytest.raises(IndexError):  # a row the texts do not reach is not silently read
            stand_in(torch.tensor([int(torch.arange(table.num_embeddings)[~torch.isin(torch.arange(table.num_embeddings), ids)][0])]))
    assert model.embedding.table is table
    reached = torch.unique(ids)
    assert torch.equal(table.weight[reached], stand_in.weight.detach())
