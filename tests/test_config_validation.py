"""Every config key is checked before any work starts: numbers in range and finite, names that become
folders plain, attacks that can run here; each message names the full dotted key (or the flag)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fedrobust.attacks.availability import runnable_attacks, unavailable_reason
from fedrobust.attacks.unavailable_recipes import MISSING_RESOURCES
from fedrobust.cli.main import main
from fedrobust.config_schema import read_yaml_mapping
from fedrobust.errors import ConfigError
from fedrobust.federated.config import config_from_mapping as simulation_config
from fedrobust.pipeline.config import config_from_mapping as run_config
from fedrobust.search.config import config_from_mapping as search_config

INF, NAN = float("inf"), float("nan")
STUDENT = {"name": "bigru_attention"}


def nested(key: str, value) -> dict:
    """``{"a": {"b": value}}`` for ``a.b``."""
    *parents, leaf = key.split(".")
    mapping = {leaf: value}
    for part in reversed(parents):
        mapping = {part: mapping}
    return mapping


def merged(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def refused(build, mapping: dict, key: str) -> str:
    with pytest.raises(ConfigError) as caught:
        build(mapping)
    message = str(caught.value)
    assert any(f"config key {key}{end}" in message for end in " :["), message
    assert "\n" not in message
    return message


# (dotted key under a simulate config, bad value): the same keys are the run config's federated.*
FEDERATED_CASES = [
    ("local.lr", INF), ("local.lr", NAN), ("local.lr", 0), ("local.lr", -1e-3),
    ("personalize.lr", INF), ("personalize.lr", 0.0),
    ("local.batch_size", 0), ("personalize.batch_size", -4),
    ("local.epochs", -1), ("personalize.epochs", -1),
    ("local.adversarial_steps", 0), ("personalize.adversarial_steps", 0), ("local.adversarial_epsilon", -0.1),
    ("personalize.adapter_dim", 0),
    ("rounds", -1), ("fraction_train", 1.5), ("fraction_train", NAN), ("min_train_clients", 0), ("max_clients", 0),
    ("simulation.num_gpus_per_client", -1), ("simulation.num_gpus_per_client", INF),
    ("simulation.num_cpus_per_client", 0), ("simulation.timeout_s", 0), ("simulation.timeout_s", -5),
    ("simulation.timeout_s", INF), ("simulation.devices_per_node", 0),
    ("personalize.dp.max_grad_norm", NAN), ("personalize.dp.delta", 1.0), ("personalize.dp.target_epsilon", INF),
    ("personalize.dp.noise_multiplier", -1.0),
    ("privacy.rounds.clipping_norm", 0), ("privacy.rounds.target_clipped_quantile", 1.5),
    ("privacy.rounds.clipped_count_stddev", -1.0), ("privacy.rounds.noise_multiplier", NAN),
    ("privacy.membership.max_examples", 1), ("privacy.membership.reference_models", -1),
    ("evaluate.examples", -1),
]


@pytest.mark.parametrize("key, value", FEDERATED_CASES, ids=lambda v: str(v))
def test_simulate_config_refuses_bad_numbers_naming_the_key(key, value):
    refused(simulation_config, merged({"data": "d", "model": "m"}, nested(key, value)), key)


@pytest.mark.parametrize("key, value", FEDERATED_CASES[::3], ids=lambda v: str(v))
def test_run_config_federated_section_names_the_full_key(key, value):
    base = {"distill": {"student": STUDENT}, "federated": {"algorithms": ["fedavg"]}}
    refused(run_config, merged(base, nested(f"federated.{key}", value)), f"federated.{key}")


@pytest.mark.parametrize("key, value", [
    ("seed", -1), ("federated_seed", -2), ("seeds", [0, -1]), ("federated_seeds", [-3]),
    ("teacher.lr", INF), ("teacher.lr", NAN), ("teacher.lr", 0), ("teacher.batch_size", 0), ("teacher.epochs", 0),
    ("teacher.max_length", 0), ("teacher.augment_copies", -1), ("teacher.max_train_examples", 0),
    ("distill.train.lr", INF), ("distill.train.lr", -1.0), ("distill.train.batch_size", 0),
    ("distill.train.epochs", 0), ("distill.train.weight_decay", -0.1), ("distill.train.grad_clip", NAN),
    ("distill.train.token_dropout", 1.0), ("distill.train.max_augmented_copies", -1),
    ("distill.vocabulary.min_count", 0), ("distill.compression.finetune_epochs", -1),
    ("distill.compression.prune_sparsity", INF),
    ("distill.student.hidden", 0), ("distill.student.dropout", 1.5), ("distill.student.embedding.dim", 0),
    ("distill.student.embedding.kind", "huge"), ("distill.student.embedding.rank", -1),
    ("distill.objectives.kd.temperature", 0), ("distill.objectives.kd.weight", -1.0),
    ("distill.objectives.kd.weight", INF), ("distill.objectives.embedding_pgd.steps", 0),
    ("distill.objectives.discrete_adversarial.max_queries", 0),
    ("evaluate.examples", 0), ("evaluate.top_k", 0),
])
def test_run_config_refuses_bad_values_naming_the_key(key, value):
    base = {"distill": {"student": dict(STUDENT), "objectives": {"ce": {}, "kd": {}}}}
    if ".objectives." in key:
        base["distill"]["objectives"][key.split(".")[2]] = {}
    refused(run_config, merged(base, nested(key, value)), key)


@pytest.mark.parametrize("name", ["", "a/b", "..", "../up", ".hidden", "a\\b", " padded"])
def test_run_names_become_plain_folder_names(name):
    message = refused(run_config, {"name": name, "distill": {"student": STUDENT}}, "name")
    assert "plain folder name" in message


@pytest.mark.parametrize("where, mapping", [
    ("evaluate", {"evaluate": {"attacks": ["textattack:textfooler"]}}),
    ("federated.evaluate", {"federated": {"algorithms": ["fedavg"], "evaluate": {"attacks": ["textattack:bae"]}}}),
])
def test_attacks_that_cannot_run_offline_are_refused_with_the_reason(where, mapping):
    message = refused(run_config, {"distill": {"student": STUDENT}, **mapping}, f"{where}.attacks[0].attack")
    assert "cannot run offline here: needs" in message and "available: " in message
    assert "fast_pwws" in message.split("available: ")[1]


def test_an_objective_naming_an_attack_that_cannot_run_is_refused():
    objectives = {"ce": {}, "discrete_adversarial": {"attack": "textattack:textfooler"}}
    refused(run_config, {"distill": {"student": STUDENT, "objectives": objectives}},
            "distill.objectives.discrete_adversarial.attack")


def test_every_unavailable_recipe_has_a_reason_and_the_rest_run():
    assert all(unavailable_reason(name) for name in MISSING_RESOURCES)
    assert not set(MISSING_RESOURCES) & set(runnable_attacks())
    assert {"fast_pwws", "fast_deepwordbug", "fast_hotflip"} <= set(runnable_attacks())


@pytest.mark.parametrize("key, value", [
    ("attacks", [{"attack": "fast_pwws", "max_queries": 0}]), ("attacks", [{"attack": "fast_pwws", "word_budgets": [NAN]}]),
])
def test_evaluate_max_queries_zero_and_nan_budgets_are_refused(key, value):
    with pytest.raises(ConfigError, match=r"config key evaluate\.attacks\[0\]\.(max_queries|word_budgets)"):
        run_config({"distill": {"student": STUDENT}, "evaluate": {key: value}})


@pytest.mark.parametrize("key, value", [
    ("candidates", 0), ("threads", 0), ("seed", -1), ("evaluation.latency_examples", 0),
    ("evaluation.test_examples", 0), ("feasible.val_natural_acc", INF), ("export.at_least.params", NAN),
    ("strategy.options.population", 0), ("strategy.options.mutation_rate", 2.0),
    ("distill.train.lr", NAN), ("distill.train.batch_size", 0),
])
def test_search_config_refuses_bad_values_naming_the_key(key, value):
    base = {"distill": {"data": "d", "teacher": "t", "student": {"name": "prado"}, "objectives": {"ce": {}}}}
    refused(search_config, merged(base, nested(key, value)), key)


# --- command line: one line, exit 2 ------------------------------------------------------------

def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"fedrobust {command}: error: "), err
    return err


@pytest.mark.parametrize("flags, flag", [
    (["--lr", "inf"], "--lr"), (["--lr", "nan"], "--lr"), (["--lr", "0"], "--lr"), (["--batch-size", "0"], "--batch-size"),
    (["--epochs", "0"], "--epochs"), (["--seed", "-1"], "--seed"), (["--max-length", "0"], "--max-length"),
])
def test_teacher_flags_are_checked_naming_the_flag(tmp_path, capsys, flags, flag):
    assert main(["teacher", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "t"), *flags]) == 2
    assert f"error: {flag} must be" in one_error_line(capsys, "teacher")


@pytest.mark.parametrize("flags, text", [
    (["--max-queries", "0"], "--max-queries must be >= 1"), (["--word-budgets", "nan"], "--word-budgets must be a finite"),
    (["--attack", "textattack:textfooler"], "textattack:textfooler cannot run offline here"),
    (["--seed", "-1"], "--seed must be >= 0"),
])
def test_evaluate_flags_are_checked_before_loading_anything(tmp_path, capsys, flags, text):
    argv = ["evaluate", "--model", str(tmp_path / "no_model"), "--data", str(tmp_path / "no_data"),
            "--out", str(tmp_path / "out"), *flags]
    assert main(argv) == 2
    assert text in one_error_line(capsys, "evaluate")


def write_config(tmp_path: Path, mapping: dict, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(mapping))
    return path


@pytest.mark.parametrize("argv, key", [
    (["--seed", "-1"], "config key seed must be >= 0"),
    (["--seeds", "1", "-2"], "config key seeds[1] must be >= 0"),
    (["--set", "federated.local.lr=.inf"], "config key federated.local.lr must be a finite number"),
    (["--set", "name=../elsewhere"], "config key name must be a plain folder name"),
])
def test_run_command_refuses_bad_keys_in_one_line(tmp_path, capsys, argv, key):
    path = write_config(tmp_path, {"distill": {"student": STUDENT}})
    assert main(["run", str(path), *argv]) == 2
    assert key in one_error_line(capsys, "run")


def test_distill_and_search_commands_refuse_bad_numbers(tmp_path, capsys):
    distill = write_config(tmp_path, {"data": "d", "teacher": "t", "student": STUDENT}, "distill.yaml")
    assert main(["distill", "--config", str(distill), "--out", str(tmp_path / "o"), "--set", "train.lr=.nan"]) == 2
    assert "config key train.lr must be a finite number" in one_error_line(capsys, "distill")
    assert main(["distill", "--config", str(distill), "--out", str(tmp_path / "o"), "--seed", "-3"]) == 2
    assert "config key seed must be >= 0" in one_error_line(capsys, "distill")
    search = write_config(tmp_path, {"distill": {"extends": "distill.yaml"}}, "search.yaml")
    assert main(["search", "--config", str(search), "--out", str(tmp_path / "s"), "--candidates", "0"]) == 2
    assert "config key candidates must be >= 1" in one_error_line(capsys, "search")


@pytest.mark.parametrize("content, text", [
    (b"rounds: 3\nname: caf\xe9\n", "c.yaml:2: not UTF-8 text"),
    (b"rounds: [1, 2\n", "c.yaml:2:1: not valid YAML"),
    (b"a: b: c\n", "c.yaml:1:5: not valid YAML"),
    (b"- just\n- a list\n", "must hold a mapping"),
])
def test_unreadable_config_files_fail_in_one_line_naming_the_file(tmp_path, content, text):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=text.replace("[", r"\[")) as caught:
        read_yaml_mapping(path)
    assert "\n" not in str(caught.value)


def run_cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real command in a child process: its exit status and stderr, and a bound on how long it may take."""
    return subprocess.run([sys.executable, "-m", "fedrobust.cli.main", *argv], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("case", ["negative_gpus", "infinite_lr", "not_utf8", "unavailable_attack"])
def test_simulate_refuses_bad_configs_without_traceback_or_hang(tmp_path, case):
    config = tmp_path / "sim.yaml"
    config.write_text(yaml.safe_dump({"data": str(tmp_path / "data"), "model": str(tmp_path / "model")}))
    overrides = {"negative_gpus": ["--set", "simulation.num_gpus_per_client=-1"],
                 "infinite_lr": ["--set", "local.lr=.inf"],
                 "unavailable_attack": ["--set", "evaluate={attacks: [textattack:textfooler]}"]}.get(case, [])
    if case == "not_utf8":
        config.write_bytes(b"data: d\nmodel: \xff\xfe\n")
    result = run_cli("simulate", "--config", str(config), "--out", str(tmp_path / "out"), *overrides)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fedrobust simulate: error: "), result.stderr
    assert "Traceback" not in result.stderr
    expected = {"negative_gpus": "config key simulation.num_gpus_per_client must be >= 0, got -1",
                "infinite_lr": "local.lr must be a finite number, got inf",
                "not_utf8": "sim.yaml:2: not UTF-8 text",
                "unavailable_attack": "evaluate.attacks[0].attack: textattack:textfooler cannot run offline here"}[case]
    assert expected in lines[0]
