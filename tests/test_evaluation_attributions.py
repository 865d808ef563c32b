"""Integrated gradients (fedrobust.evaluation.attributions) on models whose answers are known: a tiny
BERT (completeness: the attributions sum to f(text) - f(baseline)), and a model whose deciding token
saturates its nonlinearity (gradient x input ranks it last, integrated gradients first). And the
``attribution`` setting through agreement, faithfulness and the attribution cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation import attribute, explanation_agreement
from fedrobust.evaluation.agreement import compare_attributions
from fedrobust.evaluation.attribution_cache import AttributionCache
from fedrobust.evaluation.attributions import (
    ATTRIBUTIONS,
    completeness_gaps,
    grad_x_input,
    integrated_gradients,
    special_ids,
)
from fedrobust.evaluation.faithfulness import faithfulness
from fedrobust.models.base import ClassifierOutput, TextClassifier
from tests.models_helpers import KEY_TOKEN, TEXTS, key_token_texts, tokenizer

KEY = KEY_TOKEN


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


def _bert(tok, init: float = 0.3):
    """Two layers with the embedding LayerNorm of the real teacher, weights large enough to be nonlinear."""
    from transformers import BertConfig, BertForSequenceClassification

    from fedrobust.models import HFTeacher

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=2, initializer_range=init)
    return HFTeacher(BertForSequenceClassification(config), source="tiny-test-bert")


class SaturatedKeyModel(TextClassifier):
    """logit_1 = sum over tokens of sigmoid(e) - 1/2 minus a threshold, logit_0 = 0, with a 1-d
    embedding: 10 on the key token (sigmoid saturated: gradient ~ 5e-5), 1 on every other token,
    0 on [PAD]. Gradient x input gives the key 10 * 4.5e-5 and every other token 0.20; integrated
    gradients from the [PAD] baseline gives the key sigmoid(10) - 1/2 = 0.50 and the others 0.23."""

    num_labels = 2

    def __init__(self, key_id: int, pad_id: int, vocab_size: int) -> None:
        super().__init__()
        table = torch.ones(vocab_size, 1)
        table[key_id], table[pad_id] = 10.0, 0.0
        self.table = nn.Embedding.from_pretrained(table)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.table(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        evidence = ((torch.sigmoid(embeddings[..., 0]) - 0.5) * attention_mask).sum(dim=1)
        # the threshold sits between a text of filler words with and without the key (9 tokens ~ 2.5)
        logits = torch.stack([torch.zeros_like(evidence), evidence - 2.3], dim=1)
        return ClassifierOutput(logits=logits, features=evidence[:, None])


def _saturated(tok) -> SaturatedKeyModel:
    return SaturatedKeyModel(tok.hf.convert_tokens_to_ids(KEY), tok.pad_token_id, tok.vocab_size)


def _texts(n: int = 30) -> tuple[list[str], list[int]]:
    return key_token_texts(n)


def test_integrated_gradients_sum_to_the_logit_change_on_a_tiny_bert(tok):
    model = _bert(tok)
    attr = integrated_gradients(model, tok, TEXTS, steps=32)
    assert attr.method == "integrated_gradients" and len(attr.completeness) == len(TEXTS)
    changes = np.array([c.logit - c.baseline_logit for c in attr.completeness])
    assert np.abs(changes).min() > 1e-2  # a real change to explain on every text
    assert completeness_gaps(attr).max() < 0.02
    for c, scores in zip(attr.completeness, attr.scores):
        assert c.attribution_sum == pytest.approx(float(scores.sum()), abs=1e-5)
    # the check can fail: two Riemann points on this nonlinear model miss by more than 10% somewhere
    assert completeness_gaps(integrated_gradients(model, tok, TEXTS, steps=2)).max() > 0.1
    # special tokens sit at their own embedding in the baseline: zero attribution
    special = special_ids(tok)
    for ids, scores in zip(attr.input_ids, attr.scores):
        assert all(float(s) == 0.0 for t, s in zip(ids, scores) if t in special)
    # the path is cut into passes of batch_size points: the result does not depend on it
    small = integrated_gradients(model, tok, TEXTS, steps=32, batch_size=5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(small.scores, attr.scores))
    # the same with the other baselines
    for baseline in ("mask", "zero"):
        assert completeness_gaps(integrated_gradients(model, tok, TEXTS[:3], steps=32, baseline=baseline)).max() < 0.05


def test_integrated_gradients_rank_a_saturated_deciding_token_first_where_gradient_x_input_does_not(tok):
    model = _saturated(tok)
    texts = [t for t, y in zip(*_texts(8)) if y == 1]
    key_id = tok.hf.convert_tokens_to_ids(KEY)
    special = special_ids(tok)
    by = {name: attribute(model, tok, texts, method=name) for name in ("grad_x_input", "integrated_gradients")}
    for name, attr in by.items():
        for ids, scores in zip(attr.input_ids, attr.scores):
            ranked = [ids[i] for i in np.argsort(-scores.numpy(), kind="mergesort") if ids[i] not in special]
            if name == "integrated_gradients":
                assert ranked[0] == key_id
                assert float(scores[ids.index(key_id)]) == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item() - 0.5,
                                                                         abs=1e-4)
            else:
                assert ranked[-1] == key_id  # the saturated token looks unimportant to the gradient
    assert completeness_gaps(by["integrated_gradients"]).max() < 1e-3
    assert by["integrated_gradients"].targets == [1] * len(texts)


def test_faithfulness_follows_the_attribution_setting(tok):
    model = _saturated(tok)
    texts, labels = _texts()
    _, ig = faithfulness(model, tok, texts, labels, seed=1, attribution="integrated_gradients")
    _, gxi = faithfulness(model, tok, texts, labels, seed=1)
    assert ig["attribution"] == "integrated_gradients" and gxi["attribution"] == "grad_x_input"
    # deleting the key first (IG's order) lowers the class-1 probability faster than random; gradient x input
    # deletes it last, slower than random
    assert ig["deletion"]["auc_diff"]["ci95"][1] < 0
    assert gxi["deletion"]["auc_diff"]["mean"] > ig["deletion"]["auc_diff"]["mean"]
    with pytest.raises(ValueError, match="steps >= 1"):
        faithfulness(model, tok, texts[:2], labels[:2], attribution="integrated_gradients",
                     attribution_options={"steps": 0})


def test_agreement_uses_one_method_for_both_models_and_refuses_a_mix(tok):
    model = _bert(tok)
    rows, summary = explanation_agreement(model, model, tok, TEXTS, k=3, attribution="integrated_gradients")
    assert summary["attribution"] == "integrated_gradients"
    assert summary["mean_spearman"] == pytest.approx(1.0) and summary["mean_top3_overlap"] == 1.0
    ig = integrated_gradients(model, tok, TEXTS[:2], steps=4)
    gxi = grad_x_input(model, tok, TEXTS[:2])
    with pytest.raises(ConfigError, match="one method; got integrated_gradients and grad_x_input"):
        compare_attributions(ig, gxi, special_ids(tok))
    with pytest.raises(ConfigError, match="unknown attribution method 'shap'; known: grad_x_input, integrated_gradients"):
        attribute(model, tok, TEXTS[:1], method="shap")
    assert ATTRIBUTIONS.names() == ["grad_x_input", "integrated_gradients"]


def test_the_attribution_cache_records_its_method_and_refuses_another(tok, tmp_path):
    model = _saturated(tok)
    texts, labels = ["great film", "the plot"], [1, 0]
    cache = AttributionCache.of(model, tok, texts, labels, method="integrated_gradients")
    cache.save(tmp_path / "ig.npz")
    loaded = AttributionCache.load(tmp_path / "ig.npz")
    assert loaded.method == "integrated_gradients"
    assert loaded.covers(texts, labels, "integrated_gradients") and not loaded.covers(texts, labels)
    found = loaded.lookup(texts, labels, method="integrated_gradients")
    assert found.method == "integrated_gradients"
    assert found.scores[0].tolist() == pytest.approx(
        integrated_gradients(model, tok, texts[:1], [1]).scores[0].tolist(), abs=1e-6)
    with pytest.raises(DataError, match="by integrated_gradients, but grad_x_input was asked for"):
        loaded.lookup(texts, labels)
    # a file written before the method was recorded holds gradient x input
    old = AttributionCache.of(model, tok, texts, labels)
    old.save(tmp_path / "old.npz")
    with np.load(tmp_path / "old.npz") as data:
        np.savez(tmp_path / "older.npz", **{k: data[k] for k in data.files if k != "method"})
    assert AttributionCache.load(tmp_path / "older.npz").method == "grad_x_input"
    assert AttributionCache.load(tmp_path / "older.npz").covers(texts, labels)


def test_the_explanation_check_command_measures_each_model_by_each_method(tmp_path):
    import json
    import sys
    from pathlib import Path

    from tests.federated_helpers import make_federation

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
    import explanation_check

    data_dir, model_dir = make_federation(tmp_path, num_owners=4)
    summary = explanation_check.main(["--data", str(data_dir), "--teacher", str(model_dir), "--student", str(model_dir),
                                      "--examples", "6", "--steps", "8", "--out", str(tmp_path / "out")])
    assert summary["texts"] == 6 and set(summary["results"]) == {"teacher", "student"}
    for name in ("teacher", "student"):
        for method in ("grad_x_input", "integrated_gradients"):
            deletion = summary["results"][name][method]["faithfulness"]["deletion"]["auc_diff"]
            assert deletion["texts"] == 6 and deletion["ci95"][0] <= deletion["mean"] <= deletion["ci95"][1]
    ig = summary["results"]["student"]["integrated_gradients"]
    assert ig["agreement"]["mean_spearman"] == pytest.approx(1.0)  # the same model as its own teacher
    assert ig["completeness_relative_gap"]["max"] < 0.05
    assert "completeness_relative_gap" not in summary["results"]["student"]["grad_x_input"]
    assert "teacher_layernorm_diagnostic" not in summary  # a student has no BERT embedding LayerNorm
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["results"]["teacher"]["integrated_gradients"]["faithfulness"]["attribution"] == "integrated_gradients"
    assert (tmp_path / "out" / "student_integrated_gradients_agreement.csv").is_file()
    assert "| teacher | integrated_gradients |" in (tmp_path / "out" / "table.md").read_text()
