"""The search config: bad keys fail before any work with the key's name; export picks from the front."""

import pytest
import yaml

from fedrobust.errors import ConfigError
from fedrobust.search import config_from_mapping, load_search_config
from fedrobust.search.config import ExportSection
from fedrobust.search.export import choose


@pytest.fixture()
def base(tmp_path):
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump({"data": "d", "teacher": "t", "student": {"name": "prado"},
                                    "objectives": {"ce": {"weight": 1.0}}, "train": {"epochs": 4}}))
    return path


def test_overrides_and_paths_resolve(base, tmp_path):
    (tmp_path / "search.yaml").write_text(yaml.safe_dump({
        "distill": {"extends": "base.yaml", "train": {"epochs": 2}}, "teacher": "/elsewhere",
        "space": {"prado": {"dim": [8, 16]}},
    }))
    config = load_search_config(tmp_path / "search.yaml", {"strategy.name": "random", "candidates": 3,
                                                           "distill.train.batch_size": 8})
    assert config.distill_mapping["train"] == {"epochs": 2, "batch_size": 8}
    assert config.distill_mapping["teacher"] == "/elsewhere" and config.distill_mapping["data"] == "d"
    assert config.strategy.name == "random" and config.candidates == 3
    assert config.search_space().size() == 2


@pytest.mark.parametrize("change, message", [
    ({"strategy": {"name": "annealing"}}, "unknown search strategy 'annealing'"),
    ({"strategy": {"name": "evolution", "options": {"populaton": 4}}}, "strategy.options.populaton"),
    ({"objectives": [{"metric": "accuracy"}]}, r"objectives\[0\].metric"),
    ({"objectives": [{"metric": "params", "goal": "smallest"}]}, "goal"),
    ({"candidates": 0}, "candidates"),
    ({"evaluation": {"attacks": ["nope"]}}, "evaluation.attacks"),
    ({"evaluation": {"examples": 0}}, "config key evaluation.examples must be >= 1"),
    ({"evaluation": {"attack_examples": 10}}, "config key evaluation.attack_examples was renamed: use evaluation.examples"),
    ({"evaluation": {"test_attack_examples": 10}}, "evaluation.test_attack_examples was renamed: use evaluation.test_examples"),
    ({"test_front": True}, "test_front was renamed: use `fedrobust search-test OUT` after the search"),
    ({"distill": {"objectives": {"ce": {"start_epoch": 9}}}}, "config key distill.objectives.ce.start_epoch"),
    ({"space": {"prado": {"dimension": [8]}}}, "space.prado.dimension"),
    ({"distill": {"objectives": {"gradmsk": {"start_epoch": 2}}}}, "config key distill.objectives.gradmsk is not an objective"),
    ({"distill_overrides": {"train": {"epochs": 2}}}, r"distill_overrides was renamed: use distill \(write distill: \{extends:"),
    ({"export": {"at_least": {"accuracy": 0.7}}}, "export.at_least.accuracy"),
    ({"feasible": {"val_acc": 0.6}}, "feasible.val_acc"),
])
def test_config_errors_name_the_key(base, change, message):
    distill = {"extends": str(base), **change.pop("distill", {})}
    with pytest.raises(ConfigError, match=message):
        config_from_mapping({"distill": distill, **change})


def test_the_old_distill_file_name_form_names_the_new_one(base):
    with pytest.raises(ConfigError, match=r"write distill: \{extends: "):
        config_from_mapping({"distill": str(base)})


FRONT = [
    {"key": "small", "metrics": {"val_natural_acc": 0.65, "val_adversarial_acc": 0.30, "params": 1_000}},
    {"key": "robust", "metrics": {"val_natural_acc": 0.71, "val_adversarial_acc": 0.25, "params": 50_000}},
    {"key": "accurate", "metrics": {"val_natural_acc": 0.78, "val_adversarial_acc": 0.10, "params": 900_000}},
]

def test_export_choice_respects_floors_and_goals():
    assert choose(FRONT, ExportSection())["key"] == "small"
    assert choose(FRONT, ExportSection(at_least={"val_natural_acc": 0.7}))["key"] == "robust"
    assert choose(FRONT, ExportSection(prefer="params", at_least={"val_natural_acc": 0.75}))["key"] == "accurate"
    # a floor on a minimised metric is a ceiling
    assert choose(FRONT, ExportSection(prefer="val_natural_acc", at_least={"params": 100_000}))["key"] == "robust"
    assert choose(FRONT, ExportSection(candidate="accurate"))["key"] == "accurate"
    with pytest.raises(ConfigError, match="relax the bounds"):
        choose(FRONT, ExportSection(at_least={"val_natural_acc": 0.9}))
    with pytest.raises(ConfigError, match="not on the Pareto front"):
        choose(FRONT, ExportSection(candidate="missing"))


def test_shipped_search_config_is_valid():
    from pathlib import Path

    config = load_search_config(Path(__file__).resolve().parents[1] / "configs" / "search.yaml")
    assert config.distill_mapping["train"]["epochs"] == 3 and config.evaluation.examples == 100
    assert {"embedding_pgd", "gradmask", "discrete_adversarial"} <= set(config.distill_mapping["objectives"])
    assert config.search_space().size() > 100
