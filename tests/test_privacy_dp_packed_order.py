"""DP-SGD clips each text's own gradient: Opacus's DP GRU gives per-sample gradients of a packed batch
in length-sorted order, and fedrobust puts them back in the batch's order (opacus_compat.PackedBatchOrder).
Both tests fail without that reordering on a batch whose texts have different lengths."""

import copy

import pytest
import torch
import torch.nn.functional as F

from fedrobust.federated.local_training import TrainSettings
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.dp_personalization import train_privately
from fedrobust.privacy.opacus_compat import PackedBatchOrder, to_opacus
from tests.dp_helpers import LABELS, TEXTS, single_text_gradients
from tests.federated_helpers import tiny_student, tokenizer



def _student(name: str = "bigru_attention", spec: dict | None = None):
    import fedrobust.models.students  # noqa: F401
    from fedrobust.models.registry import build_student

    if spec is None:
        model = tiny_student(seed=3, num_labels=2)
    else:
        torch.manual_seed(3)
        model = build_student(name, num_labels=2, vocab_size=tokenizer().vocab_size, **spec)
    for module in model.modules():  # the per-example references below are deterministic
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model


def _opacus_per_sample_gradients(model, reorder: bool) -> dict[str, torch.Tensor]:
    from opacus import GradSampleModule

    dp_model = copy.deepcopy(model)
    to_opacus(dp_model)
    wrapped = GradSampleModule(dp_model, loss_reduction="sum")
    order = PackedBatchOrder(dp_model)
    encoded = tokenizer()(TEXTS)
    F.cross_entropy(wrapped(encoded["input_ids"], encoded["attention_mask"]), torch.tensor(LABELS),
                    reduction="sum").backward()
    if reorder:
        order.restore()
    order.remove()
    return {name: p.grad_sample for name, p in dp_model.named_parameters()}


def test_per_sample_gradients_of_the_dp_gru_are_each_texts_own():
    model = _student()
    expected = single_text_gradients(model)
    gru_names = [name for name, _ in model.named_parameters() if name.startswith("gru.")]
    raw = _opacus_per_sample_gradients(model, reorder=False)
    assert any(not torch.allclose(raw[name][i], expected[i][name], atol=1e-6)
               for name in gru_names for i in range(len(TEXTS))), "the batch did not exercise the packing order"
    _assert_each_texts_own(model, expected)


@pytest.mark.parametrize("name, spec", [
    ("bigru_attention", {"embedding": {"kind": "factorized", "dim": 16, "rank": 8}, "hidden": 16}),
    ("bigru_attention", {"embedding": {"kind": "pruned", "dim": 8}, "hidden": 8}),
    ("prado", {"projection_dim": 32, "dim": 16, "channels": 8}),
])
def test_per_sample_gradients_of_every_student_dp_trains_whole_are_each_texts_own(name, spec):
    model = _student(name, spec)
    _assert_each_texts_own(model, single_text_gradients(model))


def _assert_each_texts_own(model, expected: list[dict[str, torch.Tensor]]) -> None:
    restored = _opacus_per_sample_gradients(model, reorder=True)
    for name, per_sample in restored.items():
        for i in range(len(TEXTS)):
            assert torch.allclose(per_sample[i], expected[i][name], atol=1e-6), (name, i)


def test_dp_sgd_step_is_the_mean_of_each_texts_clipped_gradient():
    """Noise 0, every text in the one Poisson batch (sample rate 1), plain SGD: one step moves the
    weights by exactly lr * mean_i(clip(g_i)), with g_i the text's own gradient."""
    model = _student()
    start = copy.deepcopy(model)
    clip, lr = 0.05, 1.0
    grads = single_text_gradients(start)
    norms = [torch.sqrt(sum((g ** 2).sum() for g in per_text.values())) for per_text in grads]
    assert max(norms) > clip  # the clipping is active
    expected = {name: p.detach() - lr * sum(g[name] * min(1.0, clip / float(n)) for g, n in zip(grads, norms)) / len(TEXTS)
                for name, p in start.named_parameters()}
    settings = TrainSettings(epochs=1, lr=lr, batch_size=len(TEXTS), optimizer="sgd")
    dp = DPConfig(noise_multiplier=0.0, max_grad_norm=clip, delta=1e-5)
    torch.manual_seed(0)
    train_privately(model, tokenizer(), TEXTS, LABELS, settings, dp, seed=11)
    for name, p in model.named_parameters():
        assert torch.allclose(p.detach(), expected[name], atol=1e-6), name
