"""A damaged or incomplete model folder ends in one error line naming the folder and the file (exit
2, no traceback), whichever command loads it (all load through fedrobust.models.io.load_model; the
cases run through `fedrobust evaluate`); a tokenizer path that does not exist fails at once instead
of being retried as a Hugging Face hub name."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from fedrobust.errors import DataError, ResourceUnavailableError
from fedrobust.models import WordPieceTokenizer, save_model
from fedrobust.models.tokenizer import looks_like_path
from tests.cli_helpers import assert_names, cli_error, cli_error_in_subprocess
from tests.federated_helpers import make_federation, tiny_student, tokenizer
from tests.models_helpers import tiny_teacher


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """A prepared dataset, a saved student and a saved teacher, which each case copies and damages."""
    root = tmp_path_factory.mktemp("model_folders")
    data, student = make_federation(root, num_owners=2)
    teacher = save_model(tiny_teacher(num_labels=3).eval(), tokenizer(), root / "teacher")
    other = save_model(tiny_student(num_labels=2), tokenizer(), root / "other_student")
    return {"data": data, "student": student, "teacher": teacher, "other": other}


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_json(change: Callable[[dict], Any]) -> Callable[[Path, dict], None]:
    def edit(folder: Path, _: dict) -> None:
        meta = json.loads((folder / "model.json").read_text())
        change(meta)
        (folder / "model.json").write_text(json.dumps(meta))
    return edit


# (case, which saved model, how it is damaged, the file and the field the error line names)
CASES: list[tuple[str, str, Callable[[Path, dict], Any], list[str]]] = [
    ("truncated_weights", "student", lambda f, _: _truncate(f / "model.safetensors"),
     ["model.safetensors", "truncated or damaged"]),
    ("empty_weights", "student", lambda f, _: (f / "model.safetensors").write_bytes(b""),
     ["model.safetensors", "truncated or damaged"]),
    ("missing_weights", "student", lambda f, _: (f / "model.safetensors").unlink(), ["model.safetensors", "missing"]),
    ("weights_of_another_shape", "student", _edit_json(lambda m: m["config"].update(hidden=4)),
     ["model.safetensors", "do not match the architecture", "gru."]),
    ("weights_of_another_model", "student",
     lambda f, all_: shutil.copy(all_["other"] / "model.safetensors", f / "model.safetensors"),
     ["model.safetensors", "do not match the architecture"]),
    ("model_json_missing", "student", lambda f, _: (f / "model.json").unlink(), ["model.json", "not found"]),
    ("model_json_invalid", "student", lambda f, _: (f / "model.json").write_text("{name: x"),
     ["model.json", "not valid JSON"]),
    ("model_json_not_utf8", "student", lambda f, _: (f / "model.json").write_bytes(b'{"name": "\xff"}'),
     ["model.json", "not UTF-8"]),
    ("model_json_a_list", "student", lambda f, _: (f / "model.json").write_text("[]"), ["model.json", "not an object"]),
    ("architecture_name_missing", "student", _edit_json(lambda m: m.pop("name")), ["model.json", "field name", "missing"]),
    ("architecture_name_unknown", "student", _edit_json(lambda m: m.update(name="lstm9000")),
     ["model.json", "'lstm9000'", "unknown student"]),
    ("config_not_an_object", "student", _edit_json(lambda m: m.update(config="small")), ["model.json", "field config"]),
    ("config_with_unknown_key", "student", _edit_json(lambda m: m["config"].update(wings=2)),
     ["model.json", "config", "wings"]),
    ("weights_kind_unknown", "student", _edit_json(lambda m: m.update(weights="fp16")), ["model.json", "field weights", "fp16"]),
    ("tokenizer_missing", "student", lambda f, _: shutil.rmtree(f / "tokenizer"), ["tokenizer", "missing"]),
    ("tokenizer_settings_broken", "student", lambda f, _: (f / "tokenizer" / "fedrobust_tokenizer.json").write_text("{"),
     ["fedrobust_tokenizer.json", "max_length"]),
    ("teacher_weights_truncated", "teacher", lambda f, _: _truncate(f / "hf" / "model.safetensors"),
     ["hf/model.safetensors", "truncated or damaged"]),
    ("teacher_weights_folder_missing", "teacher", lambda f, _: shutil.rmtree(f / "hf"), ["hf", "missing"]),
]


@pytest.mark.parametrize("case, kind, damage, fragments", CASES, ids=[c[0] for c in CASES])
def test_damaged_model_folder_is_one_line_naming_folder_and_file(folders, tmp_path, capsys, case, kind, damage, fragments):
    folder = tmp_path / "model"
    shutil.copytree(folders[kind], folder)
    damage(folder, folders)
    started = time.monotonic()
    line = cli_error(capsys, "evaluate", "--model", str(folder), "--data", str(folders["data"]),
                     "--out", str(tmp_path / "out"))
    assert_names(line, str(folder), *fragments)
    assert time.monotonic() - started < 20  # no retries against the hub


def test_truncated_weights_end_in_one_line_without_traceback(folders, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(folders["student"], folder)
    _truncate(folder / "model.safetensors")
    line = cli_error_in_subprocess("evaluate", "--model", str(folder), "--data", str(folders["data"]),
                                   "--out", str(tmp_path / "out"))
    assert_names(line, str(folder / "model.safetensors"), "truncated or damaged")


def test_a_tokenizer_path_that_does_not_exist_fails_at_once_without_the_hub(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # a hub lookup would now retry for a minute
    started = time.monotonic()
    with pytest.raises(DataError, match="no such tokenizer folder"):
        WordPieceTokenizer.from_pretrained(str(tmp_path / "model" / "tokenizer"))
    with pytest.raises(DataError, match="no such tokenizer folder"):
        WordPieceTokenizer.load(tmp_path / "tokenizer")
    assert time.monotonic() - started < 2


def test_hub_names_still_go_to_the_hub_loader():
    # offline (conftest), the hub loader answers for a hub id it does not have: not a path error
    with pytest.raises(ResourceUnavailableError, match="cannot load Hugging Face model 'no-such-org/no-such-model'"):
        WordPieceTokenizer.from_pretrained("no-such-org/no-such-model")


@pytest.mark.parametrize("name, is_path", [
    ("/abs/tokenizer", True), ("./tokenizer", True), ("../m/tokenizer", True), ("~/m", True),
    ("runs/quick/teacher/tokenizer", True), ("folder/", True), ("C:\\models\\tok", True),
    ("bert-base-uncased", False), ("sentence-transformers/all-MiniLM-L6-v2", False),
])
def test_what_counts_as_a_path(name, is_path):
    assert looks_like_path(name) is is_path
