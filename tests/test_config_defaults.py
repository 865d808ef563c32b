"""A default is written once: each single-stage command, given only its required arguments, runs
with exactly the defaults of the run config's section for that stage; and every shipped config
file loads through its own loader."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from fedrobust.cli.main import build_parser
from fedrobust.data.prepare import DataConfig
from fedrobust.distill.config import load_config as load_distill_config
from fedrobust.distill.teacher_pipeline import TeacherConfig
from fedrobust.federated.config import simulation_config_for
from fedrobust.federated.config import load_config as load_simulation_config
from fedrobust.pipeline.config import RunConfig, load_run_config
from fedrobust.search.config import SearchConfig, load_search_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
STUDENT = {"name": "bigru_attention", "hidden": 16}


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def flag_values(args, cls: type) -> dict:
    """The parsed value of every field of ``cls`` that the command must offer as a flag."""
    set_by_parent = getattr(cls, "SET_BY_PARENT", {})
    names = [f.name for f in dataclasses.fields(cls) if f.name not in set_by_parent]
    missing = [n for n in names if not hasattr(args, n)]
    assert not missing, f"the command has no flag for {missing}"
    return {n: getattr(args, n) for n in names}


def section_values(section, cls: type) -> dict:
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(cls)}


def test_data_prepare_defaults_are_the_run_configs():
    args = parse("data", "prepare", "--out", "somewhere")
    assert flag_values(args, DataConfig) == section_values(RunConfig().data_config(), DataConfig)
    assert args.min_samples == 10 and args.keep_duplicates is False


def test_teacher_defaults_are_the_run_configs():
    args = parse("teacher", "--data", "d", "--out", "o")
    assert flag_values(args, TeacherConfig) == section_values(RunConfig().teacher_config(), TeacherConfig)


def test_distill_defaults_are_the_run_configs(tmp_path):
    from fedrobust.cli.distill_cmd import overrides_of

    (tmp_path / "distill.yaml").write_text(yaml.safe_dump({"data": "d", "teacher": "t", "student": STUDENT}))
    args = parse("distill", "--config", str(tmp_path / "distill.yaml"), "--out", "o")
    assert overrides_of(args) == {}  # no flag changes a key unless given
    from_command = load_distill_config(args.config, overrides_of(args))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"distill": {"student": STUDENT}}))
    from_run = load_run_config(tmp_path / "run.yaml").distill_config("d", "t")
    assert from_command == from_run


def test_evaluate_defaults_are_the_run_configs():
    args = parse("evaluate", "--model", "m", "--data", "d", "--out", "o")
    section = RunConfig().evaluate
    first = section.attacks[0]
    assert (args.attack, args.word_budgets, args.max_queries, args.max_edit_distance, args.examples, args.top_k,
            args.attribution) == (first.attack, first.word_budgets, first.max_queries, first.max_edit_distance,
                                  section.examples, section.top_k, section.attribution)


def test_search_scores_candidates_with_the_shared_attack_settings(tmp_path):
    from fedrobust.cli.search_cmd import overrides_of

    args = parse("search", "--config", "s.yaml", "--out", "o")
    assert overrides_of(args) == {}  # no shortcut changes a key unless given
    search, run = dataclasses.fields(SearchConfig), RunConfig().evaluate
    evaluation = next(f for f in search if f.name == "evaluation").default_factory()
    assert evaluation.primary == run.primary  # the same first threat model, attack and budget
    assert evaluation.examples == 100  # validation texts: a smaller sample than the evaluate stage's 200


def test_federated_defaults_are_the_simulate_commands(tmp_path):
    args = parse("simulate", "--config", "c.yaml", "--out", "o")
    assert args.overrides == []
    (tmp_path / "simulate.yaml").write_text(yaml.safe_dump({"data": "d", "model": "m"}))
    from_command = load_simulation_config(tmp_path / "simulate.yaml")
    config = RunConfig()
    from_run = simulation_config_for(config.federated, config.algorithms[0], "d", "m", config.seed)
    assert from_run == from_command


def config_kind(mapping: dict) -> str:
    if "model" in mapping or "algorithm" in mapping:
        return "simulate"
    if {"candidates", "strategy", "space", "evaluation"} & set(mapping):
        return "search"
    if "student" in mapping:
        return "distill"
    return "run"


LOADERS = {"run": load_run_config, "distill": load_distill_config, "simulate": load_simulation_config,
           "search": load_search_config}
SHIPPED = sorted(CONFIGS.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    kind = config_kind(yaml.safe_load(path.read_text()))
    assert LOADERS[kind](path) is not None


def test_every_config_kind_is_shipped():
    assert {config_kind(yaml.safe_load(p.read_text())) for p in SHIPPED} == set(LOADERS)
