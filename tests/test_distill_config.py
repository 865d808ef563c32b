from pathlib import Path

import pytest

from fedrobust.distill import config_from_mapping, load_config
from fedrobust.errors import ConfigError

BASE = {
    "data": "/tmp/data",
    "teacher": "/tmp/teacher",
    "student": {"name": "bigru_attention", "hidden": 32},
    "objectives": {"ce": {"weight": 1.0}, "kd": {"weight": 1.0, "temperature": 2.0}},
}


def with_(**changes):
    return {**BASE, **changes}


def test_valid_config_parses_with_defaults():
    config = config_from_mapping(BASE)
    assert config.train.epochs == 8 and config.compression.int8 is True
    assert config.objectives["kd"]["temperature"] == 2.0


@pytest.mark.parametrize(
    "mapping, fragment",
    [
        (with_(epochs=3), "unknown config key epochs"),
        (with_(train={"epoch": 3}), "train.epoch"),
        (with_(train={"epochs": "three"}), "train.epochs must be int"),
        (with_(objectives={"kd": {"temprature": 2.0}}), "objectives.kd.temprature"),
        (with_(objectives={"kd": {"temperature": "hot"}}), "objectives.kd.temperature must be float"),
        (with_(objectives={"kd": {"weight": "heavy"}}), "objectives.kd.weight"),
        (with_(objectives={"kd": {"start_epoch": 1.5}}), "objectives.kd.start_epoch must be int"),
        (with_(objectives={"kd": {"start_epoch": 9}}), r"objectives.kd.start_epoch must be in \[1, train.epochs=8\]"),
        (with_(objectives={"kd": {"start_epoch": 0}}), "objectives.kd.start_epoch"),
        (with_(objectives={"telepathy": {}}), "unknown distillation objective 'telepathy'"),
        (with_(objectives={}), "objectives is empty"),
        (with_(student={"name": "bigru_attention", "hiden": 3}), "student.hiden"),
        (with_(student={"hidden": 3}), "student.name"),
        (with_(student={"name": "nope"}), "unknown student 'nope'"),
        (with_(compression={"prune_sparsity": 1.5}), "compression.prune_sparsity"),
        ({k: v for k, v in BASE.items() if k != "teacher"}, "missing config key teacher"),
    ],
)
def test_bad_configs_name_the_key(mapping, fragment):
    with pytest.raises(ConfigError, match=fragment):
        config_from_mapping(mapping)


def test_load_config_names_the_file_and_applies_overrides(tmp_path):
    path = tmp_path / "distill.yaml"
    path.write_text("data: /a\nteacher: /b\nstudent: {name: prado}\ntrain: {epochs: 2, lr: 1}\n")
    config = load_config(path, {"data": "/c", "train.epochs": 3})
    assert config.data == "/c" and config.train.lr == 1.0 and config.train.epochs == 3 and config.seed == 0
    path.write_text("data: /a\nteacher: /b\nstudent: {name: prado, colour: red}\n")
    with pytest.raises(ConfigError, match=r"distill.yaml: .*student.colour"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[1].glob("configs/distill_*.yaml")), ids=lambda p: p.name)
def test_shipped_distill_configs_validate(path):
    config = load_config(path)
    assert config.student["name"] and config.objectives


def test_a_distill_file_may_extend_another(tmp_path):
    (tmp_path / "base.yaml").write_text("data: /a\nteacher: /b\nstudent: {name: prado}\ntrain: {epochs: 2, lr: 1}\n")
    (tmp_path / "short.yaml").write_text("extends: base.yaml\ntrain: {epochs: 1}\n")
    config = load_config(tmp_path / "short.yaml")
    assert (config.train.epochs, config.train.lr, config.student) == (1, 1.0, {"name": "prado"})


def test_errors_name_the_key_under_a_section():
    with pytest.raises(ConfigError, match="config key distill.objectives.kd.start_epoch must be in"):
        config_from_mapping(with_(objectives={"kd": {"start_epoch": 9}}), where="distill")
    with pytest.raises(ConfigError, match="unknown config key distill.train.epoch"):
        config_from_mapping(with_(train={"epoch": 3}), where="distill")


def test_the_cli_takes_set_overrides(tmp_path):
    from fedrobust.cli.distill_cmd import overrides_of
    from fedrobust.cli.main import build_parser

    args = build_parser().parse_args(["distill", "--config", "c.yaml", "--out", "o", "--seed", "3",
                                      "--set", "train.epochs=2", "--set", "objectives.kd.temperature=4"])
    assert overrides_of(args) == {"train.epochs": 2, "objectives.kd.temperature": 4, "seed": 3}
