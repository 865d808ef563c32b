"""`fedrobust run` configs: every section validated up front, errors naming the dotted key."""

from pathlib import Path

import pytest
import yaml

from fedrobust.cli.main import main
from fedrobust.errors import ConfigError
from fedrobust.pipeline.config import config_from_mapping, load_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RUN_CONFIGS = ["quickstart.yaml", "paper.yaml", "fedavg_benchmark.yaml", "scale.yaml", "privacy_sweep.yaml"]


@pytest.mark.parametrize("name", RUN_CONFIGS)
def test_shipped_run_configs_validate(name):
    config = load_run_config(CONFIGS / name)
    assert config.name == Path(name).stem and config.algorithms


def test_quickstart_asks_for_at_least_50_personalized_clients():
    config = load_run_config(CONFIGS / "quickstart.yaml")
    assert config.federated["max_clients"] >= 50 and config.federated["personalize"]["epochs"] >= 1


@pytest.mark.parametrize("mapping, message", [
    ({"datta": {}}, "unknown config key datta"),
    ({"data": {"alpah": 1}}, "unknown config key data.alpah"),
    ({"data": {"alpha": 0, "partition": "dirichlet", "num_clients": 5}}, "data.alpha must be > 0"),
    ({"data": {"num_clients": 10}}, "data.num_clients does not apply to data.partition natural"),
    ({"data": {"partition": "nope"}}, "nope"),
    ({"teacher": {"epochs": "two"}}, "config key teacher.epochs must be int"),
    ({"teacher": {"epochs": 0}}, "teacher.epochs must be >= 1"),
    ({"teacher": {"transfer": ["wikipedia"]}}, "config key teacher.transfer: unknown transfer corpus 'wikipedia'"),
    ({"teacher": {"transfer": ["rotten_tomatoes_plots"], "transfer_max_texts": 0}},
     "config key teacher.transfer_max_texts: transfer_max_texts must be >= 1, got 0"),
    ({"distill": {"student": {"name": "bigru_attention"}, "objectives": {"kd": {"temprature": 2}}}},
     "unknown config key distill.objectives.kd.temprature"),
    ({"distill": {"student": {"name": "bigru_attention"}, "train": {"epochs": 0}}}, "config key distill.*train.epochs"),
    ({"distill": {"objectives": {"ce": {}}}}, "missing config key distill.student"),
    ({"evaluate": {"models": ["student", "oracle"]}}, "evaluate.models: unknown model 'oracle'"),
    ({"evaluate": {"attack": "no_such_attack"}}, "no_such_attack"),
    ({"evaluate": {"max_examples": 0}}, "evaluate.max_examples must be >= 1"),
    ({"federated": {"algorithms": "fedavg"}}, "federated.algorithms must be a list"),
    ({"federated": {"algorithms": ["fedavg", "fedavg"]}}, "lists a name twice"),
    ({"federated": {"algorithms": ["fedavgg"]}}, "fedavgg"),
    ({"federated": {"algorithms": ["fedavg"], "rounds": -1}}, "rounds must be >= 0"),
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
    assert config.federated["rounds"] == 7 and config.out_dir() == Path("elsewhere") and config.seed == 3
    assert main(["run", str(path), "--set", "teacher.epochs=zero"]) == 2
    assert "teacher.epochs must be int" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_sections_offer_every_option_of_the_single_stage_commands():
    import dataclasses

    from fedrobust.data.prepare import PrepareOptions
    from fedrobust.data.sources import SourceOptions
    from fedrobust.distill.teacher_pipeline import TeacherOptions
    from fedrobust.pipeline.config import DataSection, TeacherSection

    names = lambda cls: {f.name for f in dataclasses.fields(cls)}  # noqa: E731
    # dedupe is the section's keep_duplicates (the CLI's --keep-duplicates); seed is the run's seed
    assert names(PrepareOptions) - {"seed", "source_options", "dedupe"} <= names(DataSection)
    assert names(SourceOptions) <= names(DataSection) and "keep_duplicates" in names(DataSection)
    assert names(TeacherOptions) - {"seed"} <= names(TeacherSection)


def test_a_run_takes_its_distill_section_from_a_distill_file(tmp_path):
    full = yaml.safe_load((CONFIGS / "distill_full.yaml").read_text())
    paper = load_run_config(CONFIGS / "paper.yaml")
    assert paper.distill == {k: v for k, v in full.items() if k not in ("data", "teacher", "seed")}
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({"distill": {"extends": str(CONFIGS / "distill_full.yaml"), "train": {"epochs": 10}}}))
    config = load_run_config(run)
    assert config.distill["train"]["epochs"] == 10 and config.distill["student"] == full["student"]
