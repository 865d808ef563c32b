"""Run state on disk: a copied or moved run folder reuses its own stages (stage records name their
outputs relative to the stage store), and damaged state (stage.json, progress.json, a round
checkpoint, a search's resume files) ends in one line naming the file, or is redone and says so;
never a traceback."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from flwr.app import ArrayRecord

from fedrobust.cli.main import main as cli_main
from fedrobust.errors import ConfigError
from fedrobust.federated.checkpoint import PROGRESS, Checkpointer
from fedrobust.pipeline.config import config_from_mapping
from fedrobust.pipeline.runner import run_study
from fedrobust.pipeline.store import STAGE_RECORD, StageStore
from fedrobust.search import run_search
from fedrobust.search.store import CONFIG_FILE, RESULT_FILE
from tests.federated_helpers import make_federation
from tests.pipeline_helpers import tiny_run_mapping
from tests.test_search_resume import FakeEvaluator, search_config


def _statuses(run_dir: Path) -> dict[str, bool]:
    return {name: s["reused"] for name, s in json.loads((run_dir / "run.json").read_text())["stages"].items()}


def _recorded_paths(run_dir: Path) -> list[str]:
    """Every path a stage record or the run record names."""
    paths = []
    for record_path in [*run_dir.glob(f"stages/*/*/{STAGE_RECORD}"), run_dir / "run.json"]:
        record = json.loads(record_path.read_text())
        results = [record["result"]] if "result" in record else [*record["results"].values(), *record["stages"].values()]
        paths += [r[k] for r in results for k in ("output", "model", "dir") if k in r]
    return paths


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny study (data, teacher, distill, evaluate) and its config file."""
    root = tmp_path_factory.mktemp("study")
    mapping = tiny_run_mapping(root)
    run_study(config_from_mapping(mapping))
    config = root / "run.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in mapping.items() if k != "out"}))
    return root / "run", config


def _copy(run_dir: Path, to: Path) -> Path:
    shutil.copytree(run_dir, to)
    return to


def test_a_moved_run_folder_reuses_its_own_stages(finished_run, tmp_path, capsys):
    run_dir, config = finished_run
    original = _copy(run_dir, tmp_path / "original")  # the module's run stays for the other tests
    assert _recorded_paths(original) and not any(Path(p).is_absolute() for p in _recorded_paths(original))
    moved = tmp_path / "moved"
    original.rename(moved)
    weights = {p: p.stat().st_mtime_ns for p in moved.rglob("*.safetensors")}

    assert cli_main(["run", str(config), "--out", str(moved)]) == 0
    printed = capsys.readouterr().out
    assert set(_statuses(moved)) == {"data", "teacher", "distill", "evaluate"}
    assert set(_statuses(moved).values()) == {True}, printed
    assert {p: p.stat().st_mtime_ns for p in moved.rglob("*.safetensors")} == weights
    summary = json.loads((moved / "summary.json").read_text())
    assert summary["data"]["output"] == str(next(moved.glob("stages/data/*/data")))
    assert summary["student"]["output"].startswith(str(moved))
    assert str(original) not in "".join(p.read_text() for p in moved.rglob("*.json"))
    assert not any(Path(p).is_absolute() for p in _recorded_paths(moved))


def test_an_older_record_with_absolute_paths_is_used_as_it_is(finished_run, tmp_path):
    run_dir, config = finished_run
    copied = _copy(run_dir, tmp_path / "copied")
    record_path = next(copied.glob(f"stages/data/*/{STAGE_RECORD}"))
    record = json.loads(record_path.read_text())
    record["result"]["output"] = str(record_path.parent / "data")  # as fedrobust wrote it before
    record_path.write_text(json.dumps(record))
    mapping = {**yaml.safe_load(config.read_text()), "out": str(copied)}
    summary = run_study(config_from_mapping(mapping))
    assert set(_statuses(copied).values()) == {True}
    assert summary["data"]["output"] == str(record_path.parent / "data")


DAMAGED_RECORDS = {
    "a list": "[]",
    "not JSON": "{\"fingerprint\": ",
    "a string": "\"finished\"",
    "no fingerprint": json.dumps({"started": "a", "finished": "b", "seconds": 1.0, "result": {}}),
    "no result": json.dumps({"fingerprint": "fp", "started": "a", "finished": "b", "seconds": 1.0}),
    "result a list": json.dumps({"fingerprint": "fp", "started": "a", "finished": "b", "seconds": 1.0, "result": []}),
    "seconds a string": json.dumps({"fingerprint": "fp", "started": "a", "finished": "b", "seconds": "1", "result": {}}),
    "another fingerprint": json.dumps({"fingerprint": "other", "started": "a", "finished": "b", "seconds": 1.0,
                                       "result": {}}),
}


@pytest.mark.parametrize("damage", list(DAMAGED_RECORDS))
def test_a_damaged_stage_record_counts_as_unfinished_and_says_so(tmp_path, capsys, damage):
    store = StageStore(tmp_path / "stages")
    slot = store.slot("teacher", "fp")
    slot.dir.mkdir(parents=True)
    slot.record_path.write_text(DAMAGED_RECORDS[damage])
    assert slot.finished() is None
    # only a well-formed record gives the time estimate
    assert store.previous_seconds("teacher") == (1.0 if damage == "another fingerprint" else None)
    printed = capsys.readouterr().out.strip()
    assert "\n" not in printed and f"{slot.record_path} is damaged" in printed and "the stage runs again" in printed


def test_a_run_with_a_damaged_stage_record_runs_that_stage_again(finished_run, tmp_path, capsys):
    run_dir, config = finished_run
    copied = _copy(run_dir, tmp_path / "copied")
    next(copied.glob(f"stages/evaluate/*/{STAGE_RECORD}")).write_text("[]")
    assert cli_main(["run", str(config), "--out", str(copied)]) == 0
    assert "is damaged: it holds a JSON list, not an object; the stage runs again" in capsys.readouterr().out
    assert _statuses(copied) == {"data": True, "teacher": True, "distill": True, "evaluate": False}


def _arrays(value: float) -> ArrayRecord:
    return ArrayRecord({"w": torch.full((2, 3), value), "b": torch.zeros(3)})


def _row(server_round: int) -> dict:
    return {"round": server_round, "algorithm": "fedavg", "sampled": 2, "succeeded": 2, "failed": 0}


def _checkpointed(run_dir: Path, rounds: int, strategy_state: dict | None = None, fingerprint: str = "fp") -> Checkpointer:
    checkpoints = Checkpointer(run_dir, fingerprint)
    for server_round in range(1, rounds + 1):
        checkpoints.save(server_round, _arrays(float(server_round)), _row(server_round), strategy_state)
    return checkpoints


def _progress(run_dir: Path) -> dict:
    return json.loads((run_dir / PROGRESS).read_text())


DAMAGED_PROGRESS = {
    "not JSON": ("{\"fingerprint\"", "not readable JSON"),
    "a list": ("[]", "a JSON list, not an object"),
    "no fingerprint": (json.dumps({"completed_round": 1, "rounds": []}), "field fingerprint is missing"),
    "round a string": (json.dumps({"fingerprint": "fp", "completed_round": "1", "rounds": []}),
                       "field completed_round is a str"),
    "round negative": (json.dumps({"fingerprint": "fp", "completed_round": -1, "rounds": []}),
                       "field completed_round is -1"),
    "rounds an object": (json.dumps({"fingerprint": "fp", "completed_round": 1, "rounds": {}}),
                         "field rounds is a dict"),
    "a row without round": (json.dumps({"fingerprint": "fp", "completed_round": 1, "rounds": [{}]}),
                            "field rounds holds an entry without an integer round"),
    "strategy state a list": (json.dumps({"fingerprint": "fp", "completed_round": 0, "rounds": [],
                                          "strategy_state": []}), "field strategy_state is not an object"),
}


@pytest.mark.parametrize("damage", list(DAMAGED_PROGRESS))
def test_a_damaged_progress_record_is_refused_in_one_line(tmp_path, damage):
    text, reason = DAMAGED_PROGRESS[damage]
    (tmp_path / PROGRESS).write_text(text)
    with pytest.raises(ConfigError) as refused:
        Checkpointer(tmp_path, "fp").resume()
    message = str(refused.value)
    assert "\n" not in message and f"{tmp_path / PROGRESS} is damaged: {reason}" in message
    assert f"delete {tmp_path} to start the federation over" in message


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


@pytest.mark.parametrize("damage", [_truncate, lambda p: p.write_bytes(b""), lambda p: p.unlink()],
                         ids=["truncated", "empty", "missing"])
def test_a_damaged_last_checkpoint_falls_back_to_the_round_before(tmp_path, capsys, damage):
    _checkpointed(tmp_path, rounds=2)
    damage(tmp_path / "checkpoints" / "round_0002.safetensors")
    checkpoints = Checkpointer(tmp_path, "fp")
    completed, arrays = checkpoints.resume()
    assert completed == 1 and torch.equal(arrays.to_torch_state_dict()["w"], torch.full((2, 3), 1.0))
    assert "round_0002.safetensors is damaged" in capsys.readouterr().out
    assert [r["round"] for r in checkpoints.rows] == [1]
    # the fallback is committed: the next reader (the ServerApp after simulate's check) resumes cleanly
    assert _progress(tmp_path)["completed_round"] == 1 and [r["round"] for r in _progress(tmp_path)["rounds"]] == [1]
    assert Checkpointer(tmp_path, "fp").resume()[0] == 1 and capsys.readouterr().out == ""


def test_a_damaged_first_checkpoint_starts_over(tmp_path):
    _checkpointed(tmp_path, rounds=1)
    _truncate(tmp_path / "checkpoints" / "round_0001.safetensors")
    assert Checkpointer(tmp_path, "fp").resume() == (0, None)


REFUSED_FALLBACKS = {
    "strategy state": lambda run_dir: _checkpointed(run_dir, 2, strategy_state={"clipping_norm": 0.5}),
    "client state": lambda run_dir: (_checkpointed(run_dir, 2), (run_dir / "client_state" / "c1").mkdir(parents=True)),
    "previous damaged too": lambda run_dir: (_checkpointed(run_dir, 2),
                                             _truncate(run_dir / "checkpoints" / "round_0001.safetensors")),
}


@pytest.mark.parametrize("case", list(REFUSED_FALLBACKS))
def test_a_damaged_checkpoint_without_an_exact_fallback_is_refused_in_one_line(tmp_path, case):
    REFUSED_FALLBACKS[case](tmp_path)
    damaged = tmp_path / "checkpoints" / "round_0002.safetensors"
    _truncate(damaged)
    with pytest.raises(ConfigError) as refused:
        Checkpointer(tmp_path, "fp").resume()
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{damaged} is damaged (not a readable safetensors file")
    assert message.endswith(f"delete {tmp_path} to start the federation over")


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    root = tmp_path_factory.mktemp("federation")
    data_dir, model_dir = make_federation(root)
    config = root / "simulate.yaml"
    config.write_text(yaml.safe_dump({"data": str(data_dir), "model": str(model_dir), "algorithm": "fedavg_ft",
                                      "rounds": 2}))
    return config


def _fingerprint(config: Path) -> str:
    from fedrobust.federated.config import load_config

    return load_config(config).fingerprint()


SIMULATE_STATE = {  # damage(out folder, the config's fingerprint), what the message says
    "progress not JSON": (lambda out, fp: (out / PROGRESS).write_text("{"), f"{PROGRESS} is damaged: not readable JSON"),
    "progress a list": (lambda out, fp: (out / PROGRESS).write_text("[]"), f"{PROGRESS} is damaged: a JSON list"),
    "checkpoint truncated": (lambda out, fp: (_checkpointed(out, 2, {"clipping_norm": 1.0}, fingerprint=fp),
                                              _truncate(out / "checkpoints" / "round_0002.safetensors")),
                             "round_0002.safetensors is damaged (not a readable safetensors file"),
}


@pytest.mark.parametrize("case", list(SIMULATE_STATE))
def test_simulate_on_damaged_state_exits_2_in_one_line_before_ray_starts(federation, tmp_path, capsys, case):
    damage, reason = SIMULATE_STATE[case]
    out = tmp_path / "out"
    out.mkdir()
    damage(out, _fingerprint(federation))
    assert cli_main(["simulate", "--config", str(federation), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("fedrobust simulate: error: ") and reason in err


DAMAGED_SEARCH_CONFIGS = {
    "not YAML": ("a: [", "not readable YAML"),
    "a list": ("- 1\n", "a list, not a mapping"),
    "no fingerprint": ("candidates: 2\n", "field evaluation_fingerprint is missing"),
}


@pytest.mark.parametrize("damage", list(DAMAGED_SEARCH_CONFIGS))
def test_a_damaged_search_config_is_refused_in_one_line(tmp_path, capsys, damage):
    text, reason = DAMAGED_SEARCH_CONFIGS[damage]
    out = tmp_path / "out"
    run_search(search_config(tmp_path, "random", candidates=2), out, FakeEvaluator())
    (out / CONFIG_FILE).write_text(text)
    (tmp_path / "search.yaml").write_text(yaml.safe_dump({
        "distill": {"extends": "base.yaml"}, "space": {"prado": {"dim": [8, 16]}}, "candidates": 1}))
    assert cli_main(["search", "--config", str(tmp_path / "search.yaml"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{out / CONFIG_FILE} is damaged: {reason}" in err
    assert f"use a new --out, or delete {out} to start the search over" in err


@pytest.mark.parametrize("text", ["[]", "{\"key\": ", "{\"key\": \"k\", \"metrics\": [1]}"],
                         ids=["a list", "not JSON", "metrics a list"])
def test_a_damaged_candidate_result_is_evaluated_again(tmp_path, text):
    config, out = search_config(tmp_path, "random", candidates=2), tmp_path / "out"
    first = run_search(config, out, FakeEvaluator())
    damaged = first.entries[0].key
    (out / "candidates" / damaged / RESULT_FILE).write_text(text)
    evaluator = FakeEvaluator()
    again = run_search(config, out, evaluator)
    assert evaluator.calls == [damaged]
    timing = "search_seconds"
    assert ([{k: v for k, v in e.metrics.items() if k != timing} for e in again.entries]
            == [{k: v for k, v in e.metrics.items() if k != timing} for e in first.entries])


@pytest.mark.slow  # two small federations on Ray
def test_a_fallback_from_a_damaged_checkpoint_gives_the_uninterrupted_results(federation, tmp_path):
    command = [sys.executable, "-m", "fedrobust.cli.main", "simulate", "--config", str(federation), "--out"]
    full = tmp_path / "full"
    subprocess.run([*command, str(full)], check=True, capture_output=True)
    cut = _copy(full, tmp_path / "cut")
    for finished in ("clients.csv", "summary.json"):  # as if killed after round 2's checkpoint was written
        (cut / finished).unlink()
    _truncate(cut / "checkpoints" / "round_0002.safetensors")
    resumed = subprocess.run([*command, str(cut)], check=True, capture_output=True, text=True)
    assert "resuming from round 1 and running round 2 again" in resumed.stdout
    assert (cut / "clients.csv").read_text() == (full / "clients.csv").read_text()
