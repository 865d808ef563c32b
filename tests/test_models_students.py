import numpy as np
import pytest
import torch

from fedrobust.errors import ConfigError
from fedrobust.models import STUDENTS, build_student
from fedrobust.models.base import ClassifierOutput, OffersSwapLogitsReuser, SwapLogitsReuser
from fedrobust.models.students.fastgrnn import FastGRNNStudent
from tests.models_helpers import SMALL_CONFIGS, TEXTS, encode, small_student, tokenizer

TEACHER_PARAMS = 22_713_986  # all-MiniLM-L6-v2 with a 2-way head


def test_all_students_registered():
    assert set(STUDENTS.names()) >= {"bigru_attention", "fastgrnn", "prado", "tiny_transformer"}


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_student_contract(name):
    student = small_student(name).eval()
    ids, mask = encode()
    emb = student.embed(ids)
    out = student.classify_embeddings(emb, mask)
    assert out.logits.shape == (len(TEXTS), 2)
    assert out.features.shape == (len(TEXTS), student.feature_dim)
    torch.testing.assert_close(student(ids, mask), out.logits)


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_prediction_does_not_depend_on_batch_padding(name):
    student = small_student(name).eval()
    ids, mask = encode()
    batched = student(ids, mask)
    for i, text in enumerate(TEXTS[:3]):
        single = tokenizer()([text])
        torch.testing.assert_close(student(single["input_ids"], single["attention_mask"])[0], batched[i], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_double_backprop_through_embeddings(name):
    student = small_student(name)
    ids, mask = encode()
    emb = student.embed(ids).detach().requires_grad_(True)
    logits = student.classify_embeddings(emb, mask).logits
    (grad,) = torch.autograd.grad(logits[:, 1].sum(), emb, create_graph=True)
    (grad * emb).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


@pytest.mark.parametrize("name", ["bigru_attention", "fastgrnn", "prado", "tiny_transformer"])
def test_default_sizes_fit_one_twentieth_of_the_teacher(name):
    student = build_student(name, num_labels=2, vocab_size=30522)
    assert student.num_parameters() <= TEACHER_PARAMS / 20


def test_fastgrnn_follows_the_paper_equations():
    student = small_student("fastgrnn").eval()
    ids, mask = encode(["great fun"])
    emb = student.embed(ids)
    h = torch.zeros(1, student.hidden)
    zeta, nu = torch.sigmoid(student.zeta_logit), torch.sigmoid(student.nu_logit)
    W, U = student.W.weight, student.U.weight
    for t in range(ids.shape[1]):
        pre = emb[:, t] @ W.T + h @ U.T
        z = torch.sigmoid(pre + student.bias_gate)
        h_tilde = torch.tanh(pre + student.bias_update)
        h = (zeta * (1 - z) + nu) * h_tilde + z * h
    torch.testing.assert_close(student.classify_embeddings(emb, mask).features, h)


def test_fastgrnn_low_rank_has_fewer_parameters():
    full = small_student("fastgrnn")
    low = small_student("fastgrnn", rank_w=4, rank_u=4)
    assert low.num_parameters() < full.num_parameters()
    assert isinstance(low, FastGRNNStudent) and low.W.rank == 4


def test_prado_has_no_embedding_table_and_ternary_projection():
    student = small_student("prado")
    assert student.input_embedding_weight() is None
    assert all(p.shape[0] != tokenizer().vocab_size for p in student.parameters())
    ids, mask = encode()
    projection = student.embed(ids)
    assert set(projection.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert projection[mask == 0].abs().sum() == 0
    # the same token always projects the same way, different tokens (almost always) differently
    first = student.embed(torch.tensor([[2307, 2307, 6659]]))[0]
    torch.testing.assert_close(first[0], first[1])
    assert not torch.equal(first[0], first[2])


def test_pruned_embedding_maps_unseen_tokens_to_unk_row():
    student = small_student("bigru_attention")
    table = student.input_embedding_weight()
    assert table.shape == (tokenizer().vocab_size, 16)
    unseen = tokenizer()(["zygomorphic"])["input_ids"][0, 1]
    torch.testing.assert_close(table[unseen], student.embedding.table.weight[1])


def test_unknown_student_name_lists_known_ones():
    with pytest.raises(ConfigError, match="known: .*bigru_attention"):
        build_student("lstm9000", num_labels=2, vocab_size=100)


def test_unknown_student_key_is_named():
    with pytest.raises(ConfigError, match="hiden"):
        build_student("bigru_attention", num_labels=2, vocab_size=100, hiden=3)


def test_unknown_embedding_kind_is_named():
    with pytest.raises(ConfigError, match="embedding.kind"):
        build_student("bigru_attention", num_labels=2, vocab_size=100, embedding={"kind": "glove"})


def test_factorized_embedding_covers_the_whole_vocabulary_within_budget():
    student = build_student(
        "bigru_attention", num_labels=2, vocab_size=30522, embedding={"kind": "factorized", "dim": 64, "rank": 32}
    )
    assert student.num_parameters() <= TEACHER_PARAMS / 20
    table = student.input_embedding_weight()
    assert table.shape == (30522, 64)
    assert not torch.allclose(table[2000], table[2001])  # no shared [UNK] row


def test_factorized_table_is_initialised_from_the_teacher_and_can_be_frozen():
    from fedrobust.distill.vocabulary import fit_vocabulary

    teacher_table = torch.randn(tokenizer().vocab_size, 24)
    student = build_student(
        "fastgrnn", num_labels=2, vocab_size=tokenizer().vocab_size,
        embedding={"kind": "factorized", "dim": 16, "rank": 8, "train_table": False},
    )
    ids, mask = encode()
    fit_vocabulary(student, ids, mask, tokenizer().special_token_ids(), 0, teacher_embeddings=teacher_table)
    assert not student.embedding.table.weight.requires_grad
    # rows keep the teacher's geometry: PCA preserves which tokens are near each other
    rows = student.embedding.table.weight
    centered = teacher_table - teacher_table.mean(0)
    _, _, v = torch.linalg.svd(centered, full_matrices=False)
    expected = centered @ v[:8].T
    cosine = torch.nn.functional.cosine_similarity(rows.flatten(), expected.flatten(), dim=0)
    assert abs(float(cosine)) > 0.999


def _unpadded(texts):
    ids, mask = encode(texts)
    return [[i for i, m in zip(row, keep) if m] for row, keep in zip(ids.tolist(), mask.tolist())]


def _logits(student, sequences):
    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [0] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    with torch.inference_mode():
        return student(ids, mask).numpy()


def test_only_the_bigru_student_offers_swap_logits_reuse():
    assert isinstance(small_student("bigru_attention"), OffersSwapLogitsReuser)
    assert isinstance(small_student("bigru_attention").swap_logits_reuser(), SwapLogitsReuser)
    for name in ("fastgrnn", "prado", "tiny_transformer"):
        assert not isinstance(small_student(name), OffersSwapLogitsReuser)


def test_bigru_swap_logits_reuse_gives_the_models_logits():
    student = small_student("bigru_attention").eval()
    reuser = student.swap_logits_reuser()
    texts = _unpadded(TEXTS)
    np.testing.assert_allclose(reuser.text_logits(texts), _logits(student, texts), atol=1e-5)
    replacement = _unpadded(["boring"])[0][1:-1]  # the word's ids, no [CLS]/[SEP]
    swaps = []
    for ids in texts:
        group = []
        for position in range(1, len(ids) - 1):  # replace the id at ``position`` by the word's ids
            swapped = ids[:position] + replacement + ids[position + 1 :]
            group.append((swapped, position, len(ids) - position - 1))
        swaps.append(group)
    reuser.next_round()
    got = reuser.swap_logits(texts, swaps)
    assert reuser.enabled and reuser.checked
    np.testing.assert_allclose(got, _logits(student, [s for group in swaps for s, _, _ in group]), atol=1e-5)


def test_bigru_swap_logits_reuse_steps_aside_when_the_forward_changed():
    class Shifted(type(small_student("bigru_attention"))):
        def classify_embeddings(self, embeddings, attention_mask):
            out = super().classify_embeddings(embeddings, attention_mask)
            return ClassifierOutput(out.logits + torch.tensor([0.0, 1.0]), out.features)

    plain = small_student("bigru_attention")
    student = Shifted(num_labels=2, vocab_size=tokenizer().vocab_size, embedding=plain.config["embedding"], hidden=16)
    student.load_state_dict(plain.state_dict())
    reuser = student.eval().swap_logits_reuser()
    assert reuser.text_logits(_unpadded(TEXTS)) is None and not reuser.enabled
