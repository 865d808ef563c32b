import pytest
import torch

from fedrobust.distill.losses import OBJECTIVES, ObjectiveContext, kd_loss
from fedrobust.distill.losses.attribution_alignment import AttributionAlignment
from fedrobust.distill.losses.embedding_pgd import EmbeddingPGD
from fedrobust.distill.losses.gradmask import GradMask
from fedrobust.distill.losses.representation_cka import linear_cka
from fedrobust.distill.teacher_training import teacher_outputs
from fedrobust.distill.trainer import make_batch, student_pass
from fedrobust.errors import ConfigError
from tests.models_helpers import LABELS, TEXTS, small_student, tiny_teacher, tokenizer


def context(student, teacher_dim=16):
    tok = tokenizer()
    return ObjectiveContext(
        num_labels=2, student_feature_dim=student.feature_dim, teacher_feature_dim=teacher_dim, tokenizer=tok,
        special_token_ids=tok.special_token_ids(), train_texts=TEXTS, train_labels=LABELS,
        train_teacher_logits=torch.zeros(len(TEXTS), 2),
    )


@pytest.fixture(scope="module")
def cached():
    teacher = tiny_teacher()
    cache = teacher_outputs(teacher, tokenizer(), TEXTS)
    labels = torch.tensor(LABELS)
    return cache, labels, make_batch(cache, labels, torch.arange(len(TEXTS)))


def test_all_objectives_registered():
    assert set(OBJECTIVES.names()) >= {
        "ce", "kd", "representation_mse", "representation_cka", "representation_infonce",
        "attribution_alignment", "embedding_pgd", "gradmask", "discrete_adversarial",
    }


def test_kd_is_zero_when_logits_agree_and_positive_otherwise():
    logits = torch.randn(5, 3)
    assert kd_loss(logits, logits.clone(), temperature=2.0).abs() < 1e-6
    assert kd_loss(logits, logits.flip(0), temperature=2.0) > 1e-3
    assert kd_loss(logits + 7.0, logits, temperature=4.0).abs() < 1e-6  # softmax is shift invariant


def test_pgd_loss_is_at_least_the_clean_loss(cached):
    _, _, batch = cached
    student = small_student("bigru_attention").eval()  # no dropout: the comparison is exact
    pgd = EmbeddingPGD(context(student), epsilon=0.05, steps=2)
    clean = student_pass(student, batch)
    clean_loss = pgd.loss_at(student, clean.embeddings.detach(), batch)
    adv_loss = pgd.loss_at(student, clean.embeddings.detach() + pgd.perturbation(student, clean.embeddings, batch), batch)
    assert adv_loss.mean() > clean_loss.mean()
    assert (adv_loss >= clean_loss - 1e-6).float().mean() >= 0.9  # ascent works example by example
    objective = pgd(student, batch, clean)
    assert objective >= clean_loss.mean() - 1e-6 and objective >= adv_loss.mean() - 1e-6


def test_pgd_perturbation_stays_inside_the_radius(cached):
    _, _, batch = cached
    student = small_student("fastgrnn").eval()
    pgd = EmbeddingPGD(context(student), epsilon=0.1, steps=2, target="ce")
    emb = student.embed(batch.input_ids)
    delta = pgd.perturbation(student, emb, batch)
    mask = batch.attention_mask.unsqueeze(-1).float()
    radius = 0.1 * (emb.detach().norm(dim=-1, keepdim=True) * mask).sum() / mask.sum()
    assert delta.norm(dim=-1).max() <= radius + 1e-5
    assert delta[batch.attention_mask == 0].abs().sum() == 0


def test_attribution_alignment_decreases_on_a_toy_pair(cached):
    _, _, batch = cached
    student = small_student("bigru_attention", dropout=0.0)
    objective = AttributionAlignment(context(student))
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = objective(student, batch, student_pass(student, batch))
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0] - 0.05


@pytest.mark.parametrize("name", ["representation_mse", "representation_infonce", "representation_cka"])
def test_representation_alignment_trains_down(cached, name):
    _, _, batch = cached
    student = small_student("prado", dropout=0.0)
    objective = OBJECTIVES.get(name)(context(student))
    params = list(student.parameters()) + list(objective.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(20):
        loss = objective(student, batch, student_pass(student, batch))
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0]


def test_linear_cka_is_one_for_a_rotation_and_low_for_noise():
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    rotation, _ = torch.linalg.qr(torch.randn(8, 8))
    assert abs(float(linear_cka(x, 3 * x @ rotation)) - 1.0) < 1e-4
    assert float(linear_cka(x, torch.randn(64, 8))) < 0.5


def test_gradmask_masks_exactly_top_k_real_tokens(cached):
    _, _, batch = cached
    student = small_student("bigru_attention")
    objective = GradMask(context(student), top_k=2)
    masked = objective.masked_inputs(batch, student_pass(student, batch))
    changed = masked != batch.input_ids
    assert torch.all(changed.sum(dim=1) == 2)
    assert torch.all(masked[changed] == tokenizer().mask_token_id)
    assert torch.all(batch.input_ids[changed] != tokenizer().hf.cls_token_id)
    loss = objective(student, batch, student_pass(student, batch))
    assert loss.requires_grad and loss >= 0


def test_teacher_cache_has_aligned_shapes(cached):
    cache, labels, _ = cached
    n, length = cache["input_ids"].shape
    assert cache["attributions"].shape == (n, length)
    assert cache["logits"].shape == cache["masked_logits"].shape == (n, 2)
    assert cache["attributions"][cache["attention_mask"] == 0].abs().sum() == 0
    assert not torch.equal(cache["logits"], cache["masked_logits"])


def test_discrete_adversarial_builds_a_pool_from_successful_attacks(cached):
    pytest.importorskip("fedrobust.attacks", reason="attacks package not importable")
    from fedrobust.attacks import ATTACKS

    if "fast_deepwordbug" not in ATTACKS:
        pytest.skip("fast_deepwordbug attack not registered")
    cache, labels, batch = cached
    student = small_student("bigru_attention")
    ctx = context(student)
    ctx.train_teacher_logits = cache["logits"]
    objective = OBJECTIVES.get("discrete_adversarial")(ctx, pool_size=len(TEXTS), max_queries=50)
    objective.on_epoch_start(student, 0)
    loss = objective(student, batch, student_pass(student, batch))
    if objective.pool_texts:
        assert all(t not in TEXTS for t in objective.pool_texts)
        assert loss.requires_grad and loss > 0
    else:
        assert float(loss) == 0.0


def test_discrete_adversarial_consistency_target_asks_only_for_invariance(cached):
    cache, _, batch = cached
    student = small_student("bigru_attention").eval()  # no dropout: the same text gives the same logits
    ctx = context(student)
    ctx.train_teacher_logits = cache["logits"]
    objective = OBJECTIVES.get("discrete_adversarial")(ctx, target="consistency")
    objective.pool_origins = list(range(len(TEXTS)))
    objective.pool_texts = list(TEXTS)  # "adversarial" texts equal to their sources
    clean = student_pass(student, batch)
    assert objective(student, batch, clean).abs() < 1e-6
    objective.pool_texts = [TEXTS[-1 - i] for i in range(len(TEXTS))]  # each paired with another text
    changed = objective(student, batch, clean)
    assert changed > 1e-4 and changed.requires_grad
    with pytest.raises(ConfigError, match="discrete_adversarial.target"):
        OBJECTIVES.get("discrete_adversarial")(ctx, target="gold")


def test_discrete_adversarial_attacks_only_texts_the_teacher_is_sure_of():
    student = small_student("bigru_attention")
    ctx = context(student)
    confident, unsure = torch.tensor([-3.0, 3.0]), torch.tensor([0.2, -0.2])  # for gold label 1
    ctx.train_teacher_logits = torch.stack([confident if i % 2 else unsure for i in range(len(TEXTS))])
    ctx.train_labels = [1] * len(TEXTS)
    objective = OBJECTIVES.get("discrete_adversarial")(ctx, min_teacher_confidence=0.9)
    assert objective.candidates == [i for i in range(len(TEXTS)) if i % 2]
    assert len(OBJECTIVES.get("discrete_adversarial")(ctx).candidates) == len(TEXTS)
    with pytest.raises(ConfigError, match="min_teacher_confidence"):
        OBJECTIVES.get("discrete_adversarial")(ctx, min_teacher_confidence=1.0)
