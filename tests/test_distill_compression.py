import torch

from fedrobust.distill.compression import apply_masks, factorize, fake_quantize_, magnitude_prune, sparsity
from fedrobust.distill.compression.pruning import prunable_parameters
from fedrobust.models.lowrank import LowRankLinear
from tests.models_helpers import LABELS, encode, small_student


def trained_toy_student(name="bigru_attention", steps=30):
    student = small_student(name, dropout=0.0)
    ids, mask = encode()
    labels = torch.tensor(LABELS)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(student(ids, mask), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return student.eval()


def test_pruning_reaches_the_asked_sparsity():
    for target in (0.3, 0.5, 0.8):
        student = small_student("bigru_attention")
        masks = magnitude_prune(student, target)
        assert abs(sparsity(student) - target) < 0.01
        assert set(masks) == set(prunable_parameters(student))


def test_masks_survive_an_optimizer_step():
    student = small_student("fastgrnn")
    masks = magnitude_prune(student, 0.5)
    ids, mask = encode()
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    student(ids, mask).sum().backward()
    optimizer.step()
    assert sparsity(student) < 0.5  # the step regrew pruned weights ...
    apply_masks(student, masks)
    assert abs(sparsity(student) - 0.5) < 0.01  # ... and the masks remove them again


def test_low_rank_factorization_shrinks_and_is_the_best_approximation():
    student = small_student("fastgrnn", hidden=32, embedding={"kind": "pruned", "dim": 32, "num_embeddings": 200}).eval()
    before = student.num_parameters()
    dense_u = student.U.weight.detach().clone()
    plan = factorize(student, 0.25)
    assert plan["W"] == plan["U"] == 8  # the recurrent maps are factorized too
    assert isinstance(student.U, LowRankLinear)
    assert student.num_parameters() < before
    approx = student.U.up.weight @ student.U.down.weight
    singular = torch.linalg.svdvals(dense_u)
    # Eckart-Young: the truncated SVD's error is exactly the discarded singular values
    torch.testing.assert_close(torch.linalg.norm(dense_u - approx) ** 2, (singular[8:] ** 2).sum(), rtol=1e-3, atol=1e-5)
    ids, mask = encode()
    assert student(ids, mask).shape == (8, 2)


def test_int8_model_agrees_with_fp32_on_most_predictions():
    torch.manual_seed(0)
    student = trained_toy_student()
    ids = torch.randint(1000, 5000, (200, 12))
    ids[:, 0], ids[:, -1] = 101, 102
    mask = torch.ones_like(ids)
    ids_real, mask_real = encode()
    with torch.no_grad():
        fp32 = torch.cat([student(ids, mask), student(ids_real, mask_real)]).argmax(1)
        fake_quantize_(student)
        int8 = torch.cat([student(ids, mask), student(ids_real, mask_real)]).argmax(1)
    assert (fp32 == int8).float().mean() >= 0.95
