import pytest
import torch

from fedrobust.distill import config_from_mapping
from fedrobust.distill.token_table import TokenStateSums, contextual_token_table
from fedrobust.errors import ConfigError


def test_seen_tokens_get_their_mean_state_and_unseen_ones_the_fitted_map():
    torch.manual_seed(0)
    vocab, dim = 40, 4
    embeddings = torch.randn(vocab, dim)
    mapping, bias = torch.randn(dim, 3), torch.randn(3)
    ids = torch.arange(30).repeat(4).view(8, 15)  # tokens 0..29 occur 4 times each, 30..39 never
    mask = torch.ones_like(ids)
    mask[0, -1] = 0  # a padding position must not count
    states = embeddings[ids] @ mapping + bias + 0.01 * torch.randn(8, 15, 3)
    sums = TokenStateSums(vocab)
    sums.add(ids, mask, states)
    assert sums.counts[ids[0, -1]] == 3 and sums.counts[0] == 4
    table = contextual_token_table(sums.sums, sums.counts, embeddings)
    real = mask.bool()
    assert torch.allclose(table[5], states[real][ids[real] == 5].mean(0))
    assert torch.allclose(table[30:], embeddings[30:] @ mapping + bias, atol=0.05)  # linear here: recovered


def test_a_tiny_corpus_still_gives_every_token_a_finite_row():
    sums, counts = torch.randn(10, 3), torch.zeros(10)
    counts[:2] = 1  # two seen tokens, four input dimensions: an underdetermined fit
    table = contextual_token_table(sums, counts, torch.randn(10, 4))
    assert torch.isfinite(table).all() and torch.equal(table[:2], sums[:2])


def test_teacher_table_setting_is_checked():
    mapping = {"data": "d", "teacher": "t", "student": {"name": "prado"}, "vocabulary": {"teacher_table": "output"}}
    with pytest.raises(ConfigError, match="vocabulary.teacher_table must be one of contextual, input"):
        config_from_mapping(mapping)
