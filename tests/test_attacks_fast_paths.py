"""The speed-ups of the fast attacks change nothing: reused BiGRU states give the model's own
logits, and shards run in threads give the same records as one run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedrobust.attacks import build_attack
from fedrobust.attacks.char_edits import deepwordbug_candidates
from fedrobust.attacks.scoring import BatchScorer, swap_logits_reuser
from fedrobust.attacks.words import SplitText
from fedrobust.models.base import ClassifierOutput
from fedrobust.models.students.bigru_attention import BiGRUAttentionStudent
from tests.models_helpers import small_student
from tests.models_helpers import tokenizer as wordpiece_tokenizer

TEXTS = [
    "a great and moving film",
    "awful acting, truly dull -- and the jokes fall flat",
    "If there was any doubt that Peter O'Fallon didn't have an original bone in his body, A Rumor of Angels "
    "should dispel it; it goes on and on well past the point where anyone still cares",  # cut at max_length
    "wonderful",
]


def _swap_groups() -> list:
    rng = np.random.default_rng(0)
    groups = []
    for text in TEXTS:
        split = SplitText.from_text(text)
        words = list(split.words)
        groups.append((split, words, [(i, "[UNK]") for i in range(len(words))]))
        for i in (0, len(words) // 2, len(words) - 1):
            groups.append((split, words, [(i, w) for w in deepwordbug_candidates(words[i], rng) + ["", "great film"]]))
    return groups


def _model_probabilities(model, tokenizer, groups) -> list[np.ndarray]:
    out = []
    with torch.inference_mode():
        for split, words, swaps in groups:
            texts = [split.replaced({i: w}) for i, w in swaps]
            batch = tokenizer(texts)
            out.append(torch.softmax(model(batch["input_ids"], batch["attention_mask"]), dim=-1).numpy())
    return out


@pytest.mark.parametrize("embedding", [None, {"kind": "factorized", "dim": 16, "rank": 4}])
def test_reused_states_give_the_models_probabilities(embedding) -> None:
    tokenizer = wordpiece_tokenizer()  # max_length 24: the long text and some swaps are cut
    overrides = {} if embedding is None else {"embedding": embedding}
    model = small_student("bigru_attention", **overrides).eval()
    scorer = BatchScorer(model, tokenizer, batch_size=16)
    assert scorer.reuse is not None
    groups = _swap_groups()
    got = scorer.swap_probabilities(groups)
    assert scorer.reuse.enabled and scorer.reuse.checked
    for mine, expected in zip(got, _model_probabilities(model, tokenizer, groups)):
        np.testing.assert_allclose(mine, expected, atol=1e-5)


class _ShiftedStudent(BiGRUAttentionStudent):
    """A student whose forward no longer matches its parts (as if its code had changed)."""

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        out = super().classify_embeddings(embeddings, attention_mask)
        return ClassifierOutput(out.logits + torch.tensor([0.0, 1.0]), out.features)


def test_reuse_steps_aside_when_it_disagrees_with_the_model() -> None:
    tokenizer = wordpiece_tokenizer()
    plain = small_student("bigru_attention")
    model = _ShiftedStudent(num_labels=2, vocab_size=tokenizer.vocab_size, embedding=plain.config["embedding"], hidden=16)
    model.load_state_dict(plain.state_dict())
    model.eval()
    scorer = BatchScorer(model, tokenizer, batch_size=16)
    groups = _swap_groups()
    got = scorer.swap_probabilities(groups)
    assert scorer.reuse is not None and not scorer.reuse.enabled
    for mine, expected in zip(got, _model_probabilities(model, tokenizer, groups)):
        np.testing.assert_allclose(mine, expected, atol=1e-5)


def test_the_scorer_asks_the_model_for_its_fast_path() -> None:
    assert swap_logits_reuser(small_student("fastgrnn")) is None
    assert swap_logits_reuser(small_student("bigru_attention")) is not None
    assert BatchScorer(small_student("bigru_attention"), wordpiece_tokenizer(), reuse_states=False).reuse is None


def test_deepwordbug_records_do_not_depend_on_state_reuse() -> None:
    tokenizer = wordpiece_tokenizer()
    model = small_student("bigru_attention").eval()
    texts = [t for t in TEXTS for _ in range(3)]
    labels = [i % 2 for i in range(len(texts))]
    with_reuse = build_attack("fast_deepwordbug", model, tokenizer, seed=3).attack(texts, labels)
    without = build_attack("fast_deepwordbug", model, tokenizer, seed=3, reuse_states=False).attack(texts, labels)
    assert [r.to_dict() for r in with_reuse] == [r.to_dict() for r in without]


def test_shards_in_threads_give_the_same_records_and_restore_torch_state() -> None:
    tokenizer = wordpiece_tokenizer()
    model = small_student("bigru_attention").train()  # the attack must not leave it in eval mode
    texts = [f"{t} {extra}" for t in TEXTS for extra in ("indeed", "so it goes", "", "a b c", "well")] * 4
    labels = [i % 2 for i in range(len(texts))]
    threads_before = torch.get_num_threads()
    one = build_attack("fast_deepwordbug", model, tokenizer, seed=5, threads=1).attack(texts, labels)
    sharded = build_attack("fast_deepwordbug", model, tokenizer, seed=5, threads=2)
    two = sharded.attack(texts, labels)
    assert len(sharded._engines) == 2  # the call really ran as two shards
    assert [r.to_dict() for r in one] == [r.to_dict() for r in two]
    assert torch.get_num_threads() == threads_before and model.training
