"""`fedrobust run` configs: every section validated up front, errors naming the dotted key."""

from pathlib import Path

import pytest
import yaml

from fedrobust.cli.main import main
from fedrobust.errors import ConfigError
from fedrobust.pipeline.config import config_from_mapping, load_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUN_CONFIGS = ["quickstart.yaml", "paper.yaml", "fedavg_benchmark.yaml", "scale.yaml", "privacy_sweep.yaml",
               "explanations_federated.yaml"]


@pytest.mark.parametrize("name", RUN_CONFIGS)
def test_shipped_run_configs_validate(name):
    config = load_run_config(CONFIGS / name)
    assert config.name == Path(name).stem and config.algorithms


def test_the_federated_explanation_study_measures_agreement_on_every_device_over_seeds():
    config = load_run_config(CONFIGS / "explanations_federated.yaml")
    evaluate = config.federated.evaluate
    assert evaluate.explanation_agreement and evaluate.attribution == "integrated_gradients"
    assert config.federated.max_clients is None and config.federated_seeds == [0, 1, 2]


def test_quickstart_asks_for_at_least_50_personalized_clients():
    config = load_run_config(CONFIGS / "quickstart.yaml")
    assert config.federated.max_clients >= 50 and config.federated.personalize.epochs >= 1


@pytest.mark.parametrize("mapping, message", [
    ({"datta": {}}, "unknown config key datta"),
    ({"data": {"alpah": 1}}, "unknown config key data.alpah"),
    ({"data": {"alpha": 0, "partition": "dirichlet", "num_clients": 5}}, "config key data.alpha must be > 0"),
    ({"data": {"num_clients": 10}}, "config key data.num_clients does not apply to data.partition natural"),
    ({"data": {"min_samples": 1}}, "config key data.min_samples must be >= 2"),
    ({"data": {"dedupe": False}}, "config key data.dedupe was renamed: use data.keep_duplicates"),
    ({"data": {"seed": 3}}, "config key data.seed is not set here: it is the run's top-level seed"),
    ({"data": {"partition": "nope"}}, "nope"),
    ({"teacher": {"epochs": "two"}}, "config key teacher.epochs must be int"),
    ({"teacher": {"epochs": 0}}, "config key teacher.epochs must be >= 1"),
    ({"teacher": {"lr": 0}}, "config key teacher.lr must be > 0"),
    ({"teacher": {"transfer": ["wikipedia"]}}, "config key teacher.transfer: unknown transfer corpus 'wikipedia'"),
    ({"teacher": {"transfer": ["rotten_tomatoes_plots"], "transfer_max_texts": 0}},
     "config key teacher.transfer_max_texts must be >= 1, got 0"),
    ({"distill": {"student": {"name": "bigru_attention"}, "objectives": {"kd": {"temprature": 2}}}},
     "unknown config key distill.objectives.kd.temprature"),
    ({"distill": {"student": {"name": "bigru_attention"}, "train": {"epochs": 0}}}, "config key distill.*train.epochs"),
    ({"distill": {"objectives": {"ce": {}}}}, "missing config key distill.student"),
    ({"distill": {"student": {"name": "bigru_attention"}, "data": "/x"}}, "config key distill.data is not set here"),
    ({"distill": {"student": {"name": "bigru_attention"}, "eval": {"latency_examples": 0}}},
     "config key distill.eval.latency_examples must be >= 1"),
    ({"evaluate": {"models": ["student", "oracle"]}}, "evaluate.models: unknown model 'oracle'"),
    ({"evaluate": {"attacks": ["no_such_attack"]}}, "no_such_attack"),
    ({"evaluate": {"attack": "fast_pwws"}}, "config key evaluate.attack was renamed: use evaluate.attacks"),
    ({"evaluate": {"examples": 0}}, "config key evaluate.examples must be >= 1"),
    ({"evaluate": {"max_examples": 10}}, "config key evaluate.max_examples was renamed: use evaluate.examples"),
    ({"evaluate": {"top_k": 0}}, "config key evaluate.top_k must be >= 1"),
    ({"evaluate": {"attribution": "shap"}}, "config key evaluate.attribution must be one of grad_x_input, "),
    ({"federated": {"algorithms": ["fedavg"], "evaluate": {"attribution": "lime"}}},
     "config key federated.evaluate.attribution must be one of grad_x_input, integrated_gradients, got 'lime'"),
    ({"federated": {"algorithms": "fedavg"}}, "federated.algorithms must be list"),
    ({"federated": {"algorithms": ["fedavg", "fedavg"]}}, "lists fedavg twice"),
    ({"federated": {"algorithms": ["fedavgg"]}}, "fedavgg"),
    ({"federated": {"algorithms": ["fedavg"], "rounds": -1}}, "config key federated.rounds must be >= 0"),
    ({"federated": {"algorithms": ["fedavg"], "rounds": "many"}}, "config key federated.rounds must be int"),
    ({"federated": {"algorithms": ["fedavg"], "local": {"epoks": 1}}}, "unknown config key federated.local.epoks"),
    ({"name": "a/b"}, "config key name"),
])
def test_bad_config_values_name_the_key(mapping, message):
    base = {"distill": {"student": {"name": "bigru_attention"}}}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config_from_mapping({**base, **mapping})


def test_cli_flags_and_set_map_to_config_keys(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "distill": {"student": {"name": "bigru_attention"}}}))
    config = load_run_config(path, {"federated.rounds": 7, "out": "elsewhere", "seed": 3})
    assert config.federated.rounds == 7 and config.out_dir() == Path("elsewhere") and config.seed == 3
    assert main(["run", str(path), "--set", "teacher.epochs=zero"]) == 2
    assert "teacher.epochs must be int" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_sections_are_the_single_stage_configs_plus_path():
    from fedrobust.data.prepare import DataConfig
    from fedrobust.distill.config import DistillConfig, DistillSettings
    from fedrobust.distill.teacher_pipeline import TeacherConfig
    from fedrobust.evaluation.config import AttackEvalConfig
    from fedrobust.pipeline.config import DataSection, DistillSection, EvaluateSection, TeacherSection

    assert issubclass(DataSection, DataConfig) and issubclass(TeacherSection, TeacherConfig)
    assert issubclass(DistillSection, DistillSettings) and issubclass(DistillConfig, DistillSettings)
    assert issubclass(EvaluateSection, AttackEvalConfig)


def test_the_run_seed_is_every_stage_seed(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"seed": 4, "distill": {"student": {"name": "bigru_attention"}}}))
    config = load_run_config(path, {"seed": 7})
    assert config.data_config().seed == config.teacher_config().seed == 7
    assert config.distill_config("d", "t").seed == 7 and config.to_dict()["data"]["seed"] == 7


def test_a_run_takes_its_distill_section_from_a_distill_file(tmp_path):
    full = yaml.safe_load((CONFIGS / "distill_full.yaml").read_text())
    paper = load_run_config(CONFIGS / "paper.yaml")
    made = paper.distill_config("d", "t").to_dict()
    assert made["student"] == full["student"] and made["objectives"] == full["objectives"]
    for section in ("train", "vocabulary", "compression", "eval"):
        assert made[section] == {**made[section], **full[section]}, section
    assert (made["data"], made["teacher"], made["seed"]) == ("d", "t", paper.seed)  # the run's, not the file's
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({"distill": {"extends": str(CONFIGS / "distill_full.yaml"), "train": {"epochs": 10}}}))
    config = load_run_config(run)
    assert config.distill.train.epochs == 10 and config.distill.student == full["student"]
    assert config.distill.train.token_dropout == full["train"]["token_dropout"]


def test_extends_works_at_any_depth_and_refuses_loops(tmp_path):
    (tmp_path / "method.yaml").write_text(yaml.safe_dump({"extends": "base_method.yaml", "train": {"epochs": 3}}))
    (tmp_path / "base_method.yaml").write_text(yaml.safe_dump({
        "data": "/ignored", "seed": 9, "student": {"name": "prado"}, "train": {"epochs": 5, "lr": 0.01}}))
    (tmp_path / "parent.yaml").write_text(yaml.safe_dump({"name": "parent", "distill": {"extends": "method.yaml"}}))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({"extends": "parent.yaml", "name": "child",
                                                         "distill": {"train": {"batch_size": 8}}}))
    config = load_run_config(tmp_path / "child.yaml", {"distill.compression.int8": False})
    assert config.name == "child" and config.distill.student == {"name": "prado"}
    assert (config.distill.train.epochs, config.distill.train.lr, config.distill.train.batch_size) == (3, 0.01, 8)
    assert config.distill.compression.int8 is False
    (tmp_path / "base_method.yaml").write_text(yaml.safe_dump({"extends": "method.yaml"}))
    with pytest.raises(ConfigError, match="distill.extends: .*extends itself"):
        load_run_config(tmp_path / "child.yaml")
