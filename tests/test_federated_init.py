"""Every algorithm of a comparison starts from the same model (``init``): the distilled student, the
public-data model, or fresh weights; the start is named in the federation's label."""

from __future__ import annotations

import pytest
import torch

from fedrobust.data.reads_of_test_texts import record_test_reads
from fedrobust.errors import ConfigError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.algorithms.registry import ALGORITHMS
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.config import section_from_mapping, simulation_config_for
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.federated.worker_cache import initial_model, tokenizer_for
from fedrobust.evaluation import accuracy
from fedrobust.models.io import load_model
from fedrobust.pipeline.config import config_from_mapping as run_config_from_mapping
from fedrobust.pipeline.stages import study_stages
from tests.federated_helpers import client_data, make_federation, sim_config
from tests.pipeline_helpers import tiny_run_mapping


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("init"))


def _floats(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize("name", ALGORITHMS.names())
def test_every_algorithm_starts_from_the_sections_init(federation, name):
    data_dir, model_dir = federation
    student = _floats(load_model(model_dir)[0])
    for init in ("student", "fresh"):
        section = section_from_mapping({"init": init, "algorithms": [name]})
        config = simulation_config_for(section, name, str(data_dir), str(model_dir), seed=0)
        start = _floats(initial_model(config.model, config.init, config.seed))
        same = all(torch.equal(start[k], student[k]) for k in student)
        assert config.init == init and same == (init == "student")


def test_an_entry_may_name_its_own_start_and_the_label_says_which():
    section = section_from_mapping({"algorithms": ["fedavg_ft", {"fedavg_ft": {"init": "public"}},
                                                   {"ditto": {"lam": 0.2, "init": "fresh"}}]})
    configs = [simulation_config_for(section, entry, "d", "m", seed=0) for entry in section.algorithms]
    assert [c.label for c in configs] == ["fedavg_ft", "fedavg_ft@public", "ditto@fresh"]
    assert [c.init for c in configs] == ["student", "public", "fresh"]
    assert configs[2].algorithm_params.lam == 0.2 and configs[1].algorithm == "fedavg_ft"


@pytest.mark.parametrize("mapping, message", [
    ({"algorithms": [{"fedavg": {"init": "teacher"}}]}, r"federated.algorithms\[0\].fedavg.init must be one of"),
    ({"init": "random", "algorithms": ["fedavg"]}, "federated.init must be one of"),
    ({"algorithms": [{"fedavg": {"init": "public"}}, {"fedavg": {"init": "public"}}]}, "lists fedavg@public twice"),
])
def test_bad_starts_name_the_key(mapping, message):
    with pytest.raises(ConfigError, match=message):
        section_from_mapping(mapping)


def test_a_simulate_config_takes_the_start_from_the_algorithm_entry_or_the_top_level(federation):
    data_dir, model_dir = federation
    assert sim_config(data_dir, model_dir, algorithm={"fedavg": {"init": "fresh"}}).init == "fresh"
    assert sim_config(data_dir, model_dir, algorithm="fedavg", init="fresh").label == "fedavg@fresh"
    with pytest.raises(ConfigError, match="disagree"):
        sim_config(data_dir, model_dir, algorithm={"fedavg": {"init": "student"}}, init="fresh")


def test_local_only_reference_row_is_the_starting_model_not_an_untrained_one(federation, tmp_path):
    data_dir, model_dir = federation
    data = client_data(data_dir, 0)
    model, tokenizer = load_model(model_dir)
    for init in ("student", "fresh"):
        config = sim_config(data_dir, model_dir, algorithm="local_only", init=init, rounds=0,
                            personalize={"epochs": 1}, evaluate={"examples": 0})
        call = ClientCall(config=config, partition_id=0, data=data, tokenizer=tokenizer_for(str(model_dir)),
                          model=initial_model(str(model_dir), config.init, 0), server_round=1,
                          state=ClientStateStore(str(tmp_path / init), "000000"))
        metrics = personalize_and_measure(build_algorithm("local_only"), call)
        start = call.model if init == "fresh" else model
        assert metrics["global/natural_acc"] == pytest.approx(accuracy(start, tokenizer, data.test_texts, data.test_labels))


def test_a_public_start_adds_the_public_model_stage_trained_with_ce_only(tmp_path):
    mapping = tiny_run_mapping(tmp_path, algorithms=["fedavg_ft", {"fedavg_ft": {"init": "public"}}])
    mapping["distill"]["objectives"]["embedding_pgd"] = {"weight": 1.0, "epsilon": 0.1, "steps": 1}
    config = run_config_from_mapping(mapping)
    stages = {s.name: s for s in study_stages(config)}
    assert stages["federated-fedavg_ft"].depends == ("data", "distill")
    assert stages["federated-fedavg_ft@public"].depends == ("data", "public_model")
    public = config.distill.public_model_config("d", "t", 0)
    assert public.objectives == {"ce": {"weight": 1.0}}
    assert not (public.train.use_augmented or public.train.use_transfer or public.vocabulary.init_from_teacher)
    assert public.student == config.distill.student and config.distill.objectives != public.objectives

    without = run_config_from_mapping(tiny_run_mapping(tmp_path, algorithms=["fedavg_ft"]))
    assert "public_model" not in {s.name for s in study_stages(without)}
    mapping["distill"] = {"path": str(tmp_path)}
    with pytest.raises(ConfigError, match="distill.path"):
        run_config_from_mapping(mapping)


def test_the_public_model_has_the_students_architecture_and_never_sees_the_teachers_outputs(tmp_path):
    from fedrobust.distill import run_distill
    from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
    from tests.distill_helpers import prepare_tiny_reviews, save_hub_like_teacher

    (tmp_path / "data").mkdir()
    data_dir = prepare_tiny_reviews(tmp_path / "data", reviews=120, users=6, public_fraction=0.5)
    teacher_dir = tmp_path / "teacher"
    run_teacher(data_dir, teacher_dir, TeacherConfig(model=str(save_hub_like_teacher(tmp_path / "hub")), epochs=1,
                                                     max_length=16, latency_examples=2, augment_copies=2))
    section = run_config_from_mapping(tiny_run_mapping(tmp_path)).distill
    distilled = run_distill(section.distill_config(str(data_dir), str(teacher_dir), 0), tmp_path / "student")
    with record_test_reads() as reads:
        public = run_distill(section.public_model_config(str(data_dir), str(teacher_dir), 0), tmp_path / "public")
    assert reads == set()
    assert public["objectives"] == {"ce": 1.0} and distilled["objectives"] == {"ce": 1.0, "kd": 1.0}
    assert public["train_rows_with_augmented"] == public["train_examples"]  # no teacher-labelled copies
    assert distilled["train_rows_with_augmented"] > distilled["train_examples"]
    a, b = load_model(tmp_path / "student" / "student")[0], load_model(tmp_path / "public" / "student")[0]
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


def test_two_table_comparisons_pair_each_algorithm_with_the_reference_and_with_its_other_start():
    from fedrobust.report.pairs import comparison_pairs

    labels = ["robust_student", "fedavg_ft", "ditto", "robust_student@public", "fedavg_ft@public", "ditto@public"]
    assert comparison_pairs(labels, "fedavg_ft") == [
        ("robust_student", "fedavg_ft"), ("ditto", "fedavg_ft"),
        ("robust_student@public", "fedavg_ft@public"), ("ditto@public", "fedavg_ft@public"),
        ("robust_student", "robust_student@public"), ("fedavg_ft", "fedavg_ft@public"), ("ditto", "ditto@public")]
    assert len(comparison_pairs(labels)) == 15  # no reference: every pair
    assert comparison_pairs(["a", "b"], "c") == []


def test_the_reference_of_the_comparisons_must_be_one_of_the_algorithms(tmp_path):
    mapping = tiny_run_mapping(tmp_path, algorithms=["fedavg_ft", "ditto"])
    mapping["report"] = {"compare_to": "fedprox"}
    with pytest.raises(ConfigError, match="report.compare_to"):
        run_config_from_mapping(mapping)
