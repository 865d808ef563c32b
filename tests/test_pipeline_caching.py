"""Stage caching of `fedrobust run`: hashes of inputs, reuse, partial re-runs, locking."""

import json

import pytest

from fedrobust.errors import ConfigError
from fedrobust.pipeline.config import config_from_mapping
from fedrobust.pipeline.lock import run_folder_lock
from fedrobust.pipeline.runner import run_study, stage_fingerprints
from fedrobust.pipeline.stages import study_stages
from tests.pipeline_helpers import tiny_run_mapping


def _fingerprints(mapping):
    config = config_from_mapping(mapping)
    return stage_fingerprints(config, study_stages(config))


def _changed(base, edit):
    changed = tiny_run_mapping_copy(base)
    edit(changed)
    before, after = _fingerprints(base), _fingerprints(changed)
    return {name for name in before if before[name] != after.get(name)}


def tiny_run_mapping_copy(mapping):
    return json.loads(json.dumps(mapping))


@pytest.fixture(scope="module")
def base_mapping(tmp_path_factory):
    return tiny_run_mapping(tmp_path_factory.mktemp("study"), algorithms=["fedavg_ft", "robust_student"])


def test_a_changed_key_invalidates_only_its_stage_and_those_downstream(base_mapping):
    federated = {"federated-fedavg_ft", "federated-robust_student"}
    assert _changed(base_mapping, lambda m: m["federated"].update(rounds=2)) == federated
    assert _changed(base_mapping, lambda m: m["evaluate"].update(examples=3)) == {"evaluate"}
    assert _changed(base_mapping, lambda m: m["distill"]["train"].update(epochs=2)) == {"distill", "evaluate"} | federated
    assert _changed(base_mapping, lambda m: m["teacher"].update(epochs=2)) == {"teacher", "distill", "evaluate"} | federated
    # the teacher's cached attributions: at the default (or its steps alone) nothing changes; integrated gradients
    # changes what alignment and GradMASK read, so the teacher and everything after it
    assert _changed(base_mapping, lambda m: m["teacher"].update(attribution="grad_x_input", attribution_steps=8)) == set()
    assert _changed(base_mapping, lambda m: m["teacher"].update(attribution="integrated_gradients")) == \
        {"teacher", "distill", "evaluate"} | federated
    assert _changed(base_mapping, lambda m: m["data"].update(min_samples=6)) == set(_fingerprints(base_mapping))
    # the devices' validation texts are carved from their train texts: every stage may change
    assert _changed(base_mapping, lambda m: m["data"].update(validation_fraction=0.2)) == set(_fingerprints(base_mapping))
    assert _changed(base_mapping, lambda m: m["federated"]["evaluate"].update(split="validation")) == federated
    # explanation agreement on the devices: the federations (and the teacher they now read) change; its k alone,
    # while off, changes nothing (runs from before the keys existed are reused)
    assert _changed(base_mapping, lambda m: m["federated"]["evaluate"].update(explanation_agreement=True)) == federated
    assert _changed(base_mapping, lambda m: m["federated"]["evaluate"].update(top_k=9)) == set()
    # the attribution method: at its default nothing changes (runs from before the key existed are reused);
    # integrated gradients changes the evaluate stage (its agreement is on), the federations only while theirs is
    assert _changed(base_mapping, lambda m: m["evaluate"].update(attribution="grad_x_input")) == set()
    assert _changed(base_mapping, lambda m: m["evaluate"].update(attribution="integrated_gradients")) == {"evaluate"}
    agreement_off = tiny_run_mapping_copy(base_mapping)
    agreement_off["evaluate"]["explanation_agreement"] = False
    assert _changed(agreement_off, lambda m: m["evaluate"].update(attribution="integrated_gradients")) == set()
    assert _changed(base_mapping, lambda m: m["federated"]["evaluate"].update(attribution="integrated_gradients")) == set()
    assert _changed(base_mapping, lambda m: m["federated"]["evaluate"].update(attribution="grad_x_input",
                                                                              explanation_agreement=True)) == federated
    assert _changed(base_mapping, lambda m: m.update(seed=1)) == set(_fingerprints(base_mapping))
    # where and how the simulation runs does not change its results
    assert _changed(base_mapping, lambda m: m["federated"].update(simulation={"ray_address": "auto", "timeout_s": 5.0})) == set()
    assert _changed(base_mapping, lambda m: m.update(out="/elsewhere", name="renamed")) == set()


def _statuses(run_dir):
    return {name: s["reused"] for name, s in json.loads((run_dir / "run.json").read_text())["stages"].items()}


def test_rerun_reuses_finished_stages_and_redoes_only_changed_ones(tmp_path):
    mapping = tiny_run_mapping(tmp_path)
    run_dir = tmp_path / "run"
    summary = run_study(config_from_mapping(mapping))
    assert _statuses(run_dir) == {"data": False, "teacher": False, "distill": False, "evaluate": False}
    assert summary["student"]["params"] > 0 and 0 <= summary["attack"]["student"]["adversarial_acc"] <= 1
    # the headline's student accuracy is the final evaluation's (test); the distill stage's is validation
    assert summary["student"]["natural_acc"] == summary["attack"]["student"]["natural_acc"]
    assert 0 <= summary["student"]["val_natural_acc"] <= 1
    assert (run_dir / "summary.json").is_file() and (run_dir / "report" / "report.md").is_file()
    student_weights = next((run_dir / "stages" / "distill").glob("*/student/model.safetensors"))
    mtime = student_weights.stat().st_mtime_ns

    run_study(config_from_mapping(mapping))
    assert set(_statuses(run_dir).values()) == {True}
    assert student_weights.stat().st_mtime_ns == mtime

    mapping["evaluate"]["examples"] = 4
    summary = run_study(config_from_mapping(mapping))
    assert _statuses(run_dir) == {"data": True, "teacher": True, "distill": True, "evaluate": False}
    assert summary["attack"]["student"]["n_attacked"] == 4

    mapping["evaluate"]["examples"] = 6  # back to the first value: its outputs are still there
    run_study(config_from_mapping(mapping))
    assert set(_statuses(run_dir).values()) == {True}

    # --rerun makes distill again with the same inputs: evaluate read the old student, so it runs again
    run_study(config_from_mapping(mapping), rerun=["distill"])
    assert _statuses(run_dir) == {"data": True, "teacher": True, "distill": False, "evaluate": False}
    assert student_weights.stat().st_mtime_ns != mtime
    run_study(config_from_mapping(mapping))
    assert set(_statuses(run_dir).values()) == {True}


def test_an_interrupted_stage_starts_afresh_and_a_busy_run_folder_is_refused(tmp_path):
    mapping = tiny_run_mapping(tmp_path)
    mapping["distill"] = {"path": str(tmp_path / "nowhere")}
    with pytest.raises(ConfigError, match="distill.path: .*nowhere is not a folder"):
        run_study(config_from_mapping(mapping))  # before any stage runs
    assert not (tmp_path / "run").exists()
    (tmp_path / "not_a_model").mkdir()
    mapping["distill"] = {"path": str(tmp_path / "not_a_model")}
    with pytest.raises(ConfigError, match="holds no model.json"):
        run_study(config_from_mapping(mapping))  # fails in its own stage, after data and teacher finished
    run_dir = tmp_path / "run"
    assert _statuses(run_dir)["teacher"] is False and "distill" in _statuses(run_dir)
    teacher_dirs = [d for d in (run_dir / "stages" / "teacher").iterdir() if d.is_dir()]
    assert len(teacher_dirs) == 1 and (teacher_dirs[0] / "stage.json").is_file()

    with run_folder_lock(run_dir):
        with pytest.raises(ConfigError, match="in use"):
            run_study(config_from_mapping(tiny_run_mapping(tmp_path)))


def test_a_provided_data_folder_stands_in_for_the_data_stage(tmp_path):
    first = tiny_run_mapping(tmp_path)
    first["federated"]["algorithms"] = []
    run_study(config_from_mapping(first))
    data_dir = next((tmp_path / "run" / "stages" / "data").glob("*/data"))
    second = tiny_run_mapping(tmp_path)
    second.update(out=str(tmp_path / "run2"), data={"path": str(data_dir)})
    summary = run_study(config_from_mapping(second))
    assert summary["data"]["output"] == str(data_dir.resolve())
    assert summary["data"]["clients"] == json.loads((tmp_path / "run" / "summary.json").read_text())["data"]["clients"]


def test_a_dp_sgd_code_version_invalidates_dp_federations_only(base_mapping, monkeypatch):
    """A fix to DP-SGD changes no config key; the stage cache must still not hand back a DP federation made
    before it (the version is in the stage's inputs), while federations without DP keep theirs."""
    import fedrobust.federated.config as federated_config

    dp = tiny_run_mapping_copy(base_mapping)
    dp["federated"].setdefault("personalize", {})["dp"] = {"noise_multiplier": 1.0}
    before_dp, before_plain = _fingerprints(dp), _fingerprints(base_mapping)
    monkeypatch.setattr(federated_config, "DP_SGD_VERSION", federated_config.DP_SGD_VERSION + 1)
    after_dp, after_plain = _fingerprints(dp), _fingerprints(base_mapping)
    federated = {"federated-fedavg_ft", "federated-robust_student"}
    assert {name for name in before_dp if before_dp[name] != after_dp[name]} == federated
    assert before_plain == after_plain


def test_pruning_keeps_the_shared_folder_and_the_current_fingerprints(tmp_path):
    from fedrobust.pipeline.store import SHARED_DIR, StageStore

    for folder in ("teacher/new", "teacher/old", f"{SHARED_DIR}/teacher_attributions"):
        (tmp_path / folder).mkdir(parents=True)
    assert StageStore(tmp_path).stale({"teacher": "new"}) == [tmp_path / "teacher" / "old"]
