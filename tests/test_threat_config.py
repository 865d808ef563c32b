"""Threat models as configuration, data.min_test and multi-seed keys."""

import pytest

from fedrobust.config_schema import validated
from fedrobust.errors import ConfigError
from fedrobust.evaluation.config import AttackEvalConfig, DeviceAttackEvalConfig, ThreatModel
from fedrobust.pipeline.config import config_from_mapping


def test_the_default_uses_two_attack_families_at_bounded_budgets():
    settings = AttackEvalConfig()
    assert [t.attack for t in settings.attacks] == ["fast_deepwordbug", "fast_pwws"]
    assert settings.labels() == ["fast_deepwordbug@0.1", "fast_deepwordbug@0.25", "fast_pwws@0.1", "fast_pwws@0.25"]
    assert all(t.max_queries == 2000 for t in settings.attacks)
    assert DeviceAttackEvalConfig().examples is None  # every test text of a device


def test_attacks_take_names_or_threat_models_with_budgets():
    settings = validated(AttackEvalConfig, {"attacks": ["fast_pwws", {"attack": "fast_deepwordbug", "word_budgets": [0.05],
                                                                         "max_edit_distance": 10}]}, "evaluate")
    assert settings.attacks[0] == ThreatModel("fast_pwws")
    assert settings.attacks[1].options(0.05) == {"max_word_fraction": 0.05, "max_edit_distance": 10}
    assert settings.primary == (settings.attacks[0], 0.1)


@pytest.mark.parametrize("mapping, message", [
    ({"attack": "fast_pwws"}, "evaluate.attack was renamed: use evaluate.attacks"),
    ({"attacks": [{"attack": "nope"}]}, "evaluate.attacks[0].attack: unknown attack 'nope'"),
    ({"attacks": [{"attack": "fast_pwws", "word_budgets": [1.5]}]}, "evaluate.attacks[0].word_budgets are fractions"),
    ({"attacks": [{"attack": "fast_pwws", "max_edit_distance": 5}]}, "applies to character attacks"),
    ({"attacks": [{"attack": "fast_pwws", "typo": 1}]}, "unknown config key evaluate.attacks[0].typo"),
    ({"attacks": "fast_pwws"}, "evaluate.attacks must be a list"),
])
def test_bad_threat_models_fail_naming_the_key(mapping, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validated(AttackEvalConfig, mapping, "evaluate")


def test_run_config_takes_seeds_or_federated_seeds_not_both(tmp_path):
    student = {"distill": {"student": {"name": "bigru_attention"}}}
    config = config_from_mapping({**student, "name": "s", "out": str(tmp_path), "federated_seeds": [0, 1]})
    assert config.seed_list == ("federated_seed", [0, 1])
    one = config.for_seed(1)
    assert one.federated_seed == 1 and one.seed == 0 and one.out == str(tmp_path / "seed-1")
    assert one.stage_cache == str(tmp_path / "stages") and not one.seed_list[1]
    with pytest.raises(ConfigError, match="give one of them"):
        config_from_mapping({**student, "seeds": [0], "federated_seeds": [1]})
    with pytest.raises(ConfigError, match="repeats a seed"):
        config_from_mapping({**student, "seeds": [0, 0]})


def test_the_run_knows_which_evaluated_attacks_training_never_used():
    student = {"student": {"name": "bigru_attention"}}
    trained = {**student, "objectives": {"ce": {}, "discrete_adversarial": {"attack": "fast_deepwordbug"}}}
    config = config_from_mapping({"distill": trained})
    assert config.training_attacks() == {"fast_deepwordbug"}
    assert config.unseen_attacks() == ["fast_pwws"]  # the default evaluation adds a word-substitution attack
    only_seen = config_from_mapping({"distill": trained, "evaluate": {"attacks": ["fast_deepwordbug"]}})
    assert only_seen.unseen_attacks() == []
    assert config_from_mapping({"distill": {"path": "/some/student"}}).unseen_attacks() is None
