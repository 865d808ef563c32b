"""End to end on tiny pieces: a 1-layer BERT teacher, 120 synthetic reviews, a few epochs."""

import json

import pytest
import torch
from safetensors.torch import load_file

from fedrobust.cli.main import main as cli_main
from fedrobust.distill import config_from_mapping, run_distill
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.data import FederatedDataset
from fedrobust.data.reads_of_test_texts import record_test_reads
from fedrobust.distill.pipeline import load_inputs
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation import DeviceAttackEvalConfig, measure
from fedrobust.models import load_model
from tests.distill_helpers import BAD, GOOD, prepare_tiny_reviews, save_hub_like_teacher
from tests.models_helpers import tiny_teacher, tokenizer

@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return prepare_tiny_reviews(tmp_path_factory.mktemp("pipeline"), reviews=160, users=8, public_fraction=0.5)


@pytest.fixture(scope="module")
def teacher_dir(data_dir, tmp_path_factory):
    hub_like = save_hub_like_teacher(tmp_path_factory.mktemp("tiny_bert"))
    out = tmp_path_factory.mktemp("teacher")
    run_teacher(data_dir, out, TeacherConfig(model=str(hub_like), epochs=2, lr=3e-3, max_length=16, latency_examples=5, augment_copies=1))
    return out


def test_teacher_does_not_depend_on_what_ran_before_it(data_dir, tmp_path):
    # like the offline MiniLM, a pretrained body without a classifier: the head is new, and must be
    # drawn from the seed, not from whatever the process drew before
    hub_like = tmp_path / "tiny_bert_body"
    tiny_teacher().hf.bert.save_pretrained(hub_like)
    tokenizer().hf.save_pretrained(hub_like)
    weights = []
    for earlier_draws in (0, 5):
        torch.rand(earlier_draws)
        out = tmp_path / f"teacher_{earlier_draws}"
        run_teacher(data_dir, out, TeacherConfig(model=str(hub_like), epochs=1, lr=3e-3, max_length=16, latency_examples=2))
        weights.append(load_model(out / "model")[0].state_dict())
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_teacher_run_writes_model_metrics_and_cache(teacher_dir):
    metrics = json.loads((teacher_dir / "metrics.json").read_text())
    assert metrics["teacher"]["params"] > 0 and 0.0 <= metrics["teacher"]["natural_acc"] <= 1.0
    model, tok = load_model(teacher_dir / "model")
    assert tok.max_length == 16 and model.num_labels == 2
    assert (teacher_dir / "cache.safetensors").exists()
    table = load_file(str(teacher_dir / "cache.safetensors"))["token_table"]
    assert table.shape == model.input_embedding_weight().shape and torch.isfinite(table).all()


def full_method(data_dir, teacher_dir, **changes):
    mapping = {
        "data": str(data_dir),
        "teacher": str(teacher_dir),
        "student": {"name": "bigru_attention", "hidden": 16, "embedding": {"kind": "pruned", "dim": 16, "num_embeddings": 300}},
        "objectives": {
            "ce": {"weight": 1.0},
            "kd": {"weight": 1.0, "temperature": 2.0},
            "representation_infonce": {"weight": 0.1},
            "attribution_alignment": {"weight": 0.5},
            "embedding_pgd": {"weight": 1.0, "epsilon": 0.1, "steps": 1},
            "gradmask": {"weight": 0.5, "top_k": 1},
        },
        "train": {"epochs": 3, "batch_size": 16, "lr": 0.01},
        "compression": {"prune_sparsity": 0.5, "low_rank_ratio": 0.25, "finetune_epochs": 1, "int8": True},
        "eval": {"latency_examples": 5},
    }
    mapping.update(changes)
    return config_from_mapping(mapping)


def test_distill_full_method_writes_a_loadable_compressed_student(data_dir, teacher_dir, tmp_path):
    config = full_method(data_dir, teacher_dir)
    with record_test_reads() as reads:
        metrics = run_distill(config, tmp_path)
    # vocabulary, teacher table, augmented copies, keep-best epoch and the measurements: no test text
    assert reads == set()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("params", "natural_acc"):
        assert key in saved["teacher"]
    for key in ("params", "bytes_fp32", "bytes_int8", "val_natural_acc", "val_natural_acc_int8", "latency_ms"):
        assert key in saved["student"]
    assert not {"natural_acc", "natural_acc_int8", "test_examples"} & set(saved["student"])
    student = metrics["student"]
    assert student["bytes_int8"] < student["bytes_fp32"]
    assert student["sparsity"] >= 0.45 and student["low_rank"]
    assert {row["phase"] for row in metrics["history"]} == {"train", "compressed_finetune"}
    assert metrics["train_rows_with_augmented"] == 2 * metrics["train_examples"]  # one copy each
    for folder in ("student", "student_int8"):
        model, tok = load_model(tmp_path / folder)
        enc = tok(["a great warm film", "dull and boring"])
        assert model(enc["input_ids"], enc["attention_mask"]).shape == (2, 2)
    # the synthetic task is easy: the student must learn it
    assert student["val_natural_acc"] >= 0.8
    # measured by the evaluator, as every stage measures, on the public validation texts: held out of
    # the student's training rows, and not test texts
    inputs = load_inputs(config)
    texts, labels = inputs.validation()
    assert len(texts) == student["validation_examples"] == metrics["validation_examples"] > 0
    assert not set(inputs.val_idx.tolist()) & set(inputs.train_idx.tolist())
    assert not set(texts) & set(FederatedDataset.load(data_dir).public().test_texts)
    reloaded, tok = load_model(tmp_path / "student")
    device_phase = measure(reloaded, tok, texts, labels, DeviceAttackEvalConfig(examples=0), seed=0)
    assert student["val_natural_acc"] == device_phase["natural_acc"]


def test_the_test_read_record_sees_a_read_of_public_test_texts(data_dir):
    # the check above could not fail if reads were never recorded
    with record_test_reads() as reads:
        FederatedDataset.load(data_dir).public().test_texts
    assert reads == {"public"}


def test_the_old_measure_key_names_its_new_name(data_dir, teacher_dir):
    with pytest.raises(ConfigError, match="eval.max_test_examples was renamed: use eval.max_validation_examples"):
        full_method(data_dir, teacher_dir, eval={"max_test_examples": 5})


def test_student_table_starts_from_the_chosen_teacher_table(data_dir, teacher_dir):
    from fedrobust.distill.pipeline import build_fitted_student, load_inputs
    from fedrobust.distill.vocabulary import pca_init

    student = {"name": "bigru_attention", "hidden": 8, "embedding": {"kind": "factorized", "dim": 16, "rank": 4}}
    teacher, _ = load_model(teacher_dir / "model")
    references = {"contextual": load_file(str(teacher_dir / "cache.safetensors"))["token_table"],
                  "input": teacher.input_embedding_weight().detach()}
    for kind, reference in references.items():
        config = full_method(data_dir, teacher_dir, student=student, vocabulary={"teacher_table": kind})
        built, _ = build_fitted_student(config, load_inputs(config))
        assert torch.allclose(built.embedding.table.weight, pca_init(reference.float(), 4), atol=1e-5), kind


def test_distill_cli(data_dir, teacher_dir, tmp_path):
    config = tmp_path / "distill.yaml"
    config.write_text(
        "data: unused\nteacher: unused\nstudent: {name: prado, dim: 16, channels: 8}\n"
        "objectives: {ce: {weight: 1.0}, kd: {weight: 1.0}}\ntrain: {epochs: 2}\n"
        "compression: {int8: false}\neval: {latency_examples: 3}\n"
    )
    code = cli_main(["distill", "--config", str(config), "--out", str(tmp_path / "run"),
                     "--data", str(data_dir), "--teacher", str(teacher_dir)])
    assert code == 0
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["student"]["name"] == "prado" and saved["student"]["bytes_int8"] > 0


def test_distill_cli_reports_bad_config_in_one_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("data: a\nteacher: b\nstudent: {name: prado}\nobjectives: {kd: {temprature: 3}}\n")
    assert cli_main(["distill", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "objectives.kd.temprature" in capsys.readouterr().err


def test_cache_from_other_texts_is_refused(data_dir, teacher_dir, tmp_path):
    from fedrobust.distill.teacher_artifacts import read_cache

    with pytest.raises(DataError, match="rerun `fedrobust teacher`"):
        read_cache(teacher_dir, ["some", "other", "texts"])


def test_transfer_texts_are_teacher_labelled_and_trained_on(data_dir, teacher_dir, tmp_path):
    import shutil

    from fedrobust.data import FederatedDataset

    teacher_copy = tmp_path / "teacher"
    shutil.copytree(teacher_dir, teacher_copy)
    in_dataset = FederatedDataset.load(data_dir).client(0).test_texts[0]
    corpus = tmp_path / "unlabelled.txt"
    corpus.write_text("\n".join([f"a {w} story" for w in GOOD + BAD] + [in_dataset, ""]) + "\n")
    code = cli_main(["teacher", "--data", str(data_dir), "--out", str(teacher_copy), "--recache",
                     "--augment-copies", "1", "--transfer", f"txt:{corpus}", "--transfer-max-texts", "10"])
    assert code == 0
    assert json.loads((teacher_copy / "cache.json").read_text())["transfer_texts"] == 10  # a device text is dropped

    quick = {"train": {"epochs": 1, "batch_size": 16, "lr": 0.01}, "compression": {"int8": False}}
    with_transfer = run_distill(full_method(data_dir, teacher_copy, **quick), tmp_path / "a")
    assert with_transfer["train_transfer_rows"] == 10
    assert with_transfer["train_rows_with_augmented"] == 2 * with_transfer["train_examples"] + 10
    without = run_distill(full_method(data_dir, teacher_copy, train={**quick["train"], "use_transfer": False},
                                      compression={"int8": False}), tmp_path / "b")
    assert without["train_transfer_rows"] == 0
    assert without["train_rows_with_augmented"] == 2 * without["train_examples"]
