"""ATMC (compression.method: atmc): the projections, the ADMM updates, quantization-aware training,
the packed artifact, and a tiny end-to-end run whose student meets every constraint exactly."""

import json
import math

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from fedrobust.distill import config_from_mapping, run_distill
from fedrobust.distill.compression.admm import ADMM, AtmcSettings
from fedrobust.distill.compression.post_hoc import quantize_after_training
from fedrobust.distill.compression.projection import constrained_names, factorize_for_constraints, project
from fedrobust.distill.compression.qat import FakeQuantization, hard_project
from fedrobust.distill.pipeline import build_fitted_student, build_objectives, load_inputs, save_and_measure, \
    train_and_compress
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.errors import ConfigError, DataError
from fedrobust.models import load_model, save_model
from fedrobust.models.io import PACKED_WEIGHTS
from fedrobust.models.lowrank import LowRankLinear
from fedrobust.models.packed import grid_bytes, levels
from tests.distill_helpers import prepare_tiny_reviews, save_hub_like_teacher
from tests.models_helpers import SMALL_CONFIGS, encode, small_student, tokenizer


def assert_on_constraint_set(model: nn.Module, sparsity: float, bits: int) -> None:
    """Every weight tensor: exactly int(sparsity * n) zeros, at most 2^bits - 1 values on one grid."""
    for name in constrained_names(model):
        p = model.get_parameter(name).detach()
        assert int((p == 0).sum()) == int(sparsity * p.numel()), name
        values = torch.unique(p)
        assert len(values) <= 2**bits - 1, name
        scale = float(values.abs().max()) / levels(bits)
        codes = values / scale
        torch.testing.assert_close(codes, codes.round(), rtol=0, atol=1e-4)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9])
def test_projection_is_exact_and_idempotent(bits, sparsity):
    weight = torch.randn(37, 11) * 0.3
    grid, keep = project(weight, sparsity, bits)
    assert int((grid == 0).sum()) == int(sparsity * weight.numel())
    assert torch.equal(grid != 0, keep)
    assert len(torch.unique(grid)) <= 2**bits - 1
    # the kept entries are the largest magnitudes
    assert weight.abs()[keep].min() >= weight.abs()[~keep].max() if (~keep).any() else True
    again, keep_again = project(grid, sparsity, bits)
    assert torch.equal(again, grid) and torch.equal(keep_again, keep)


class NoDual(ADMM):
    """The quadratic-penalty method: Z/U updates that forget the dual."""

    @staticmethod
    def _dual(u, w, z):
        return torch.zeros_like(u)


class WrongSign(ADMM):
    @staticmethod
    def _dual(u, w, z):
        return u - w + z


def admm_residuals(cls=ADMM, rank_ratio=0.0):
    """A linear regression whose loss wants a dense matrix, trained by SGD under the constraints
    (fixed rho, so only the dual variables can close the gap)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32, bias=False))
    true = torch.randn(32, 32) / 32**0.5
    x = torch.randn(256, 32)
    y = x @ true.T
    factorize_for_constraints(model, rank_ratio)
    settings = AtmcSettings(sparsity=0.5, rank_ratio=rank_ratio, bits=4, rho=0.3, rho_final=0.3, admm_every=10)
    admm = cls(model, constrained_names(model), settings, updates=60)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(600):
        loss = ((model(x) - y) ** 2).mean() + admm.penalty(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        admm.after_step(model)
    return [r["residual"] for r in admm.residuals]


def test_admm_closes_the_gap_between_weights_and_constraint_set_through_its_duals():
    residuals = admm_residuals()
    assert len(residuals) == 61 and residuals[0] > 0.2
    assert residuals[-1] < 1e-3  # W = Z: the weights sit on the constraint set
    # without the duals, a fixed penalty leaves W where loss and penalty balance; a wrong sign diverges
    assert admm_residuals(NoDual)[-1] > 0.05
    assert admm_residuals(WrongSign)[-1] > residuals[0]


def test_admm_trains_low_rank_factors_under_the_constraints():
    residuals = admm_residuals(rank_ratio=0.25)  # 32 x 32 -> two rank-8 factors
    assert residuals[-1] < 0.1 * residuals[0]


def test_rho_grows_to_its_final_value_and_rescales_the_scaled_dual():
    model = nn.Sequential(nn.Linear(8, 8, bias=False))
    admm = ADMM(model, ["0.weight"], AtmcSettings(rho=0.1, rho_final=0.4, admm_every=1), updates=2)
    with torch.no_grad():
        model[0].weight.add_(0.5)
    before = model[0].weight.detach() - admm.z["0.weight"]  # what the dual step adds, in rho=0.1 units
    admm.update()
    assert admm.rho == pytest.approx(0.2)
    # rho * U (the unscaled dual) is what the step added at the old rho
    torch.testing.assert_close(admm.rho * admm.u["0.weight"], 0.1 * (model[0].weight.detach() - admm.z["0.weight"]))
    assert not torch.equal(before, torch.zeros_like(before))
    admm.update()
    assert admm.rho == pytest.approx(0.4)


def test_fake_quantization_trains_the_latent_and_keeps_the_model_on_the_grid():
    student = small_student("fastgrnn", hidden=32, dropout=0.0)
    factorize_for_constraints(student, 0.5)
    names = constrained_names(student)
    masks, latent = hard_project(student, names, 0.5, 3)
    qat = FakeQuantization(student, masks, latent, 3)
    ids, mask = encode()
    optimizer = torch.optim.Adam(student.parameters(), lr=0.05)
    start = {n: t.clone() for n, t in qat.latent.items()}
    for _ in range(3):
        loss = nn.functional.cross_entropy(student(ids, mask), torch.tensor([1, 1, 1, 1, 0, 0, 0, 0]))
        optimizer.zero_grad()
        loss.backward()
        qat.before_step(student)
        optimizer.step()
        qat.after_step(student)
    assert_on_constraint_set(student, 0.5, 3)
    assert any(not torch.equal(start[n], qat.latent[n]) for n in names)  # the straight-through gradient moved it
    for name in names:
        assert torch.equal(student.get_parameter(name) != 0, masks[name])  # the support never moves


def test_the_straight_through_step_applies_the_gradient_at_the_grid_point_to_the_latent_weights():
    student = small_student("fastgrnn", hidden=32, dropout=0.0)
    names = constrained_names(student)
    masks, latent = hard_project(student, names, 0.5, 3)
    qat = FakeQuantization(student, masks, latent, 3)
    grid = {n: student.get_parameter(n).detach().clone() for n in names}
    ids, mask = encode()
    loss = nn.functional.cross_entropy(student(ids, mask), torch.tensor([1, 1, 1, 1, 0, 0, 0, 0]))
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    optimizer.zero_grad()
    loss.backward()
    grads = {n: student.get_parameter(n).grad.clone() for n in names}
    qat.before_step(student)
    optimizer.step()
    qat.after_step(student)
    for name in names:
        torch.testing.assert_close(qat.latent[name], (latent[name] - 0.1 * grads[name]) * masks[name])
        assert not torch.equal(qat.latent[name], (grid[name] - 0.1 * grads[name]) * masks[name])


@pytest.mark.parametrize("name", sorted(SMALL_CONFIGS))
def test_packed_students_load_with_identical_logits_and_their_bytes_are_as_claimed(tmp_path, name):
    overrides = {"hidden": 32} if name in ("fastgrnn", "bigru_attention") else {}
    student = small_student(name, dropout=0.0, **overrides).eval()
    layout = factorize_for_constraints(student, 0.5)
    names = constrained_names(student)
    hard_project(student, names, 0.6, 4)
    save_model(student, tokenizer(), tmp_path, weights="packed", bits=4)
    loaded, _ = load_model(tmp_path)
    ids, mask = encode()
    assert torch.equal(loaded(ids, mask), student(ids, mask))
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["weights"] == "packed" and meta["low_rank"] == layout
    assert all(isinstance(loaded.get_submodule(path), LowRankLinear) for path in layout)
    assert_on_constraint_set(loaded, 0.6, 4)
    # the file is the safetensors header plus, per weight tensor, exactly the bytes grid_bytes plans
    path = tmp_path / PACKED_WEIGHTS
    with safe_open(str(path), framework="pt") as handle:
        stored = {k: handle.get_tensor(k) for k in handle.keys()}
    header = int.from_bytes(path.read_bytes()[:8], "little")
    assert path.stat().st_size == 8 + header + sum(t.numel() * t.element_size() for t in stored.values())
    shapes = {n: student.get_parameter(n).shape for n in names}
    grid_part = sum(t.numel() * t.element_size() for k, t in stored.items() if k.split(".__")[0] in shapes)
    assert grid_part == sum(grid_bytes(shape, 4, 0.6) for shape in shapes.values())
    dense = sum(math.prod(shape) * 4 for shape in shapes.values())
    assert grid_part < dense / 6  # 40% of 4-bit codes plus a 1-bit mask: about 1/16 of fp32, plus scales


def test_a_damaged_packed_file_is_a_data_error_naming_it(tmp_path):
    student = small_student("fastgrnn")
    hard_project(student, constrained_names(student), 0.5, 4)
    save_model(student, tokenizer(), tmp_path, weights="packed", bits=4)
    path = tmp_path / PACKED_WEIGHTS
    with safe_open(str(path), framework="pt") as handle:
        stored = {k: handle.get_tensor(k) for k in handle.keys()}
    save_file(stored, str(path))  # the same tensors without their layout
    with pytest.raises(DataError, match=f"{path}: not a packed layout"):
        load_model(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=f"{path}: not readable safetensors.*truncated or damaged"):
        load_model(tmp_path)


def test_packed_saving_refuses_weights_off_the_grid(tmp_path):
    student = small_student("fastgrnn")
    with pytest.raises(ValueError, match="does not lie on a 4-bit grid"):
        save_model(student, tokenizer(), tmp_path, weights="packed", bits=4)


def test_post_training_quantization_keeps_the_pruned_zeros():
    student = small_student("bigru_attention", dropout=0.0)
    with torch.no_grad():
        for name in constrained_names(student):
            p = student.get_parameter(name)
            p.mul_(p.abs() > p.abs().median())
    zeros_before = {n: int((student.get_parameter(n) == 0).sum()) for n in constrained_names(student)}
    quantize_after_training(student, 8)
    for name, count in zeros_before.items():
        p = student.get_parameter(name)
        assert int((p == 0).sum()) == count and len(torch.unique(p)) <= 255


BASE = {"data": "d", "teacher": "t", "student": {"name": "fastgrnn"}}


@pytest.mark.parametrize("compression,key", [
    ({"method": "admm"}, "compression.method"),
    ({"method": "atmc", "prune_sparsity": 0.5}, "compression.prune_sparsity"),
    ({"method": "atmc", "finetune_epochs": 3}, "compression.finetune_epochs"),
    ({"atmc": {"bits": 4, "sparsity": 0.3}}, "compression.atmc"),
    ({"method": "atmc", "atmc": {"bits": 1}}, "compression.atmc.bits"),
    ({"method": "atmc", "atmc": {"bits": 16}}, "compression.atmc.bits"),
    ({"method": "atmc", "atmc": {"sparsity": 1.0}}, "compression.atmc.sparsity"),
    ({"method": "atmc", "atmc": {"rank_ratio": -0.1}}, "compression.atmc.rank_ratio"),
    ({"method": "atmc", "atmc": {"rho": 0.0}}, "compression.atmc.rho"),
    ({"method": "atmc", "atmc": {"rho_final": -1.0}}, "compression.atmc.rho_final"),
    ({"method": "atmc", "atmc": {"rho": 2.0, "rho_final": 1.0}}, "compression.atmc.rho_final"),
    ({"method": "atmc", "atmc": {"admm_every": 0}}, "compression.atmc.admm_every"),
    ({"method": "atmc", "atmc": {"admm_epochs": 0}}, "compression.atmc.admm_epochs"),
    ({"method": "atmc", "atmc": {"qat_epochs": -1}}, "compression.atmc.qat_epochs"),
    ({"method": "atmc", "atmc": {"bitz": 4}}, "compression.atmc.bitz"),
])
def test_config_errors_name_the_key(compression, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_mapping({**BASE, "compression": compression})


def test_post_hoc_configs_keep_their_mapping_and_atmc_configs_record_theirs():
    post_hoc = config_from_mapping({**BASE, "compression": {"prune_sparsity": 0.5}}).to_dict()["compression"]
    assert post_hoc == {"low_rank_ratio": 0.0, "prune_sparsity": 0.5, "finetune_epochs": 1, "int8": True}
    atmc = config_from_mapping({**BASE, "compression": {"method": "atmc", "atmc": {"bits": 3}}}).to_dict()
    assert atmc["compression"]["method"] == "atmc" and atmc["compression"]["atmc"]["bits"] == 3
    assert config_from_mapping(atmc).compression.atmc.bits == 3  # the written config reads back


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("atmc")
    data = prepare_tiny_reviews(root, reviews=160, users=8, public_fraction=0.5)
    hub_like = save_hub_like_teacher(root / "tiny_bert")
    run_teacher(data, root / "teacher", TeacherConfig(model=str(hub_like), epochs=2, lr=3e-3, max_length=16,
                                                      latency_examples=2, augment_copies=1))
    return root


def atmc_config(tiny, **atmc):
    return config_from_mapping({
        "data": str(tiny / "data"), "teacher": str(tiny / "teacher"),
        "student": {"name": "fastgrnn", "hidden": 32, "embedding": {"kind": "pruned", "dim": 16, "num_embeddings": 120}},
        "objectives": {"ce": {}, "kd": {"temperature": 2.0}, "embedding_pgd": {"epsilon": 0.1, "steps": 1}},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.01},
        "compression": {"method": "atmc", "int8": False,
                        "atmc": {"sparsity": 0.5, "rank_ratio": 0.5, "bits": 4, "rho": 0.05, "rho_final": 5.0,
                                 "admm_epochs": 3, "admm_every": None, "qat_epochs": 1, **atmc}},
        "eval": {"latency_examples": 2}})


def test_atmc_student_meets_its_constraints_and_reloads_from_its_packed_bytes(tiny, tmp_path):
    config = atmc_config(tiny)
    torch.manual_seed(config.seed)
    inputs = load_inputs(config)
    student, _ = build_fitted_student(config, inputs)
    compressed = train_and_compress(config, inputs, student, build_objectives(config, inputs, student))
    measured = save_and_measure(config, inputs, student, tmp_path, compressed)

    assert [row["phase"] for row in compressed.history] == ["train"] * 2 + ["admm"] * 3 + ["qat"]
    assert [row["epoch"] for row in compressed.history] == [1, 2, 1, 2, 3, 1]
    assert [row["admm_rho"] for row in compressed.history if row["phase"] == "admm"] == pytest.approx([0.5, 5.0, 5.0])
    assert compressed.low_rank == {"W": 8} and isinstance(student.W, LowRankLinear)  # 16 -> 32 at half rank
    assert torch.linalg.matrix_rank(student.W.up.weight @ student.W.down.weight) <= 8
    assert_on_constraint_set(student, 0.5, 4)
    # rho: 0.05 for the first epoch, 5 for the last; the weights approach the constraint set at each update
    residuals = [r["residual"] for r in compressed.report["admm_residuals"]]
    assert [r["rho"] for r in compressed.report["admm_residuals"]] == pytest.approx([0.05, 0.5, 5.0, 5.0])
    assert len(residuals) == 4 and residuals[-1] < 0.8 * residuals[0]

    loaded, tok = load_model(tmp_path / "student")
    texts = inputs.validation()[0]
    enc = tok(texts)
    assert torch.equal(loaded(enc["input_ids"], enc["attention_mask"]), student(enc["input_ids"], enc["attention_mask"]))
    assert measured["bytes_packed"] == (tmp_path / "student" / PACKED_WEIGHTS).stat().st_size
    assert measured["bytes_packed"] < measured["bytes_fp32"] / 8
    assert measured["sparsity"] == pytest.approx(0.5, abs=0.01)
    report = compressed.report["tensors"]
    assert set(report) == set(constrained_names(student)) and {"W.up.weight", "W.down.weight"} <= set(report)
    assert all(t["zeros"] == int(0.5 * math.prod(t["shape"])) / math.prod(t["shape"]) for t in report.values())


@pytest.mark.parametrize("atmc,key", [({"admm_every": 10000}, r"compression\.atmc\.admm_every=10000"),
                                      ({"admm_epochs": 1}, r"compression\.atmc\.admm_epochs=1")])
def test_an_admm_schedule_without_updates_fails_before_training(tiny, tmp_path, atmc, key):
    with pytest.raises(ConfigError, match=key + ".*no Z/U update would happen while training"):
        run_distill(atmc_config(tiny, **atmc), tmp_path)
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "student").exists()


def test_the_number_of_updates_that_training_follows():
    settings = AtmcSettings(admm_epochs=2, admm_every=10)
    assert settings.updates(20) == 3  # updates after steps 10, 20, 30; the one after step 40 ends the phase
    assert settings.updates(21) == 4  # ... and after 40 come two more steps
    assert AtmcSettings(admm_epochs=3, admm_every=None).updates(7) == 2


def test_compression_continues_from_a_dense_phase_and_refuses_one_of_another_config(tiny, tmp_path):
    dense_config = config_from_mapping({**atmc_config(tiny).to_dict(), "compression": {"int8": False}})
    dense = run_distill(dense_config, tmp_path / "dense")
    assert [row["phase"] for row in dense["history"]] == ["train"] * 2
    started = load_model(tmp_path / "dense" / "student")[0].state_dict()

    compressed = run_distill(atmc_config(tiny), tmp_path / "atmc", dense_phase=tmp_path / "dense")
    assert compressed["history"][:2] == dense["history"]  # the dense epochs were not trained again
    assert [row["phase"] for row in compressed["history"][2:]] == ["admm"] * 3 + ["qat"]
    assert compressed["dense_phase"] == str(tmp_path / "dense")
    assert_on_constraint_set(load_model(tmp_path / "atmc" / "student")[0], 0.5, 4)
    # pruning without fine-tuning keeps the dense phase's weights where it does not zero them
    pruned = config_from_mapping({**dense_config.to_dict(), "compression": {"prune_sparsity": 0.5, "finetune_epochs": 0,
                                                                            "int8": False}})
    run_distill(pruned, tmp_path / "pruned", dense_phase=tmp_path / "dense")
    kept = load_model(tmp_path / "pruned" / "student")[0].state_dict()
    assert any(bool((kept[k] == 0).any()) for k in started if kept[k].dim() > 1)
    assert all(torch.equal(kept[k][kept[k] != 0], started[k][kept[k] != 0]) for k in started)

    other = config_from_mapping({**atmc_config(tiny).to_dict(), "train": {"epochs": 3, "batch_size": 16, "lr": 0.01}})
    with pytest.raises(ConfigError, match=r"dense phase .*differs in train"):
        run_distill(other, tmp_path / "other", dense_phase=tmp_path / "dense")
    with pytest.raises(ConfigError, match=r"dense phase .*was compressed"):
        run_distill(atmc_config(tiny), tmp_path / "again", dense_phase=tmp_path / "atmc")
    with pytest.raises(ConfigError, match=r"dense phase .*not a finished distill run"):
        run_distill(atmc_config(tiny), tmp_path / "none", dense_phase=tmp_path / "missing")
    assert not (tmp_path / "other").exists()
