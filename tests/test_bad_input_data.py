"""Bad data ends in one error line naming the file and the field (exit 2, no traceback); data that
used to be silently accepted (null, -1 or 0.5 labels, ``x: "abc"``, empty texts, ``label_names:
"ab"``) is refused; devices without train or test texts are left out, counted, and never scored."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from fedrobust.cli.main import main
from fedrobust.data import FederatedDataset
from fedrobust.data.prepare import DataConfig, prepare
from fedrobust.data.sources.base import make_dataset
from fedrobust.errors import DataError
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.federated.results import client_rows, summarize_clients
from fedrobust.federated.worker_cache import initial_model, tokenizer_for
from tests.cli_helpers import assert_names, cli_error, cli_error_in_subprocess
from tests.federated_helpers import make_federation, sim_config

TRAIN = {"users": ["a", "b"], "num_samples": [3, 3],
         "user_data": {"a": {"x": ["hi there", "yo", "hm"], "y": [0, 1, 0]},
                       "b": {"x": ["hey", "ho", "ha"], "y": [1, 0, 1]}}}
TEST = {"users": ["a", "b"], "num_samples": [1, 1],
        "user_data": {"a": {"x": ["t1"], "y": [0]}, "b": {"x": ["t2"], "y": [1]}}}
SMALL = ["--min-samples", "2", "--public-fraction", "0"]  # two tiny devices, no public split


def _copy(blob: dict) -> dict:
    return json.loads(json.dumps(blob))


def with_user_a(**record: Any) -> dict:
    """TRAIN with user a's x and/or y replaced."""
    blob = _copy(TRAIN)
    blob["user_data"]["a"].update(record)
    return blob


def with_fields(**fields: Any) -> dict:
    blob = _copy(TRAIN)
    blob.update(fields)
    return blob


def write_leaf(root: Path, train: dict | bytes = TRAIN, test: dict | bytes = TEST,
               meta: dict | list | bytes | None = None) -> Path:
    for split, content in (("train", train), ("test", test)):
        (root / split).mkdir(parents=True, exist_ok=True)
        path = root / split / "data.json"
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    if meta is not None:
        (root / "meta.json").write_bytes(meta if isinstance(meta, bytes) else json.dumps(meta).encode())
    return root


def prepare_leaf(capsys, source: Path, out: Path, *extra: str) -> str:
    return cli_error(capsys, "data", "prepare", "--source", f"leaf:{source}", "--out", str(out), *SMALL, *extra)


# (case, how the LEAF directory is written, what the error line must name besides the file)
LEAF_FILE_CASES: list[tuple[str, Callable[[Path], Path], list[str]]] = [
    ("not_utf8", lambda d: write_leaf(d, train=b'{"users": ["\xff"]}'), ["train/data.json", "not UTF-8", "0xff"]),
    ("deep_nesting", lambda d: write_leaf(d, train=b"[" * 100_000 + b"]" * 100_000),
     ["train/data.json", "nested too deeply"]),
    ("directory_named_json", lambda d: (write_leaf(d), (d / "train" / "more.json").mkdir(), d)[-1],
     ["train/more.json", "is a directory"]),
    ("users_not_a_list", lambda d: write_leaf(d, train=with_fields(users="ab")), ["train/data.json", "field 'users'"]),
    ("user_data_a_list", lambda d: write_leaf(d, train=with_fields(user_data=[TRAIN["user_data"]["a"]])),
     ["train/data.json", "field 'user_data'", "a list"]),
    ("num_samples_not_counts", lambda d: write_leaf(d, train=with_fields(num_samples="33")),
     ["train/data.json", "field 'num_samples'"]),
    ("user_name_a_list", lambda d: write_leaf(d, train=with_fields(users=[["a"], "b"])),
     ["train/data.json", "users[0]", "a list"]),
    ("label_a_list", lambda d: write_leaf(d, train=with_user_a(y=[[0], 1, 0])), ["train/data.json", "user 'a' y[0]"]),
    ("labels_1_and_string_1", lambda d: write_leaf(d, train=with_user_a(y=[1, "1", 0])),
     ["train/data.json", "user 'a' y[1]", "mix class indices and class names"]),
    ("lone_surrogate", lambda d: write_leaf(d, train=json.dumps(TRAIN).replace("hi there", "\\ud800").encode()),
     ["train/data.json", "user 'a' x[0]", "lone surrogate"]),
    ("lone_surrogate_in_user_name", lambda d: write_leaf(d, train=json.dumps(TRAIN).replace('"b"', '"\\udc00"').encode()),
     ["train/data.json", "users[1]", "lone surrogate"]),
    # silently accepted before: each became a class, three texts, or an empty training text
    ("null_label", lambda d: write_leaf(d, train=with_user_a(y=[None, 1, 0])), ["train/data.json", "user 'a' y[0] is null"]),
    ("negative_label", lambda d: write_leaf(d, train=with_user_a(y=[-1, 1, 0])), ["train/data.json", "user 'a' y[0] is -1"]),
    ("fractional_label", lambda d: write_leaf(d, train=with_user_a(y=[0.5, 1, 0])), ["train/data.json", "y[0] is the number 0.5"]),
    ("x_a_string", lambda d: write_leaf(d, train=with_user_a(x="abc")), ["train/data.json", "user 'a' field 'x' is the string"]),
    ("empty_text", lambda d: write_leaf(d, train=with_user_a(x=["hi", "", "hm"])), ["train/data.json", "user 'a' x[1]", "empty"]),
    ("whitespace_text", lambda d: write_leaf(d, train=with_user_a(x=["hi", " \t ", "hm"])), ["user 'a' x[1]", "empty"]),
    ("indices_in_train_names_in_test",
     lambda d: write_leaf(d, test={**TEST, "user_data": {"a": {"x": ["t1"], "y": ["neg"]}, "b": {"x": ["t2"], "y": ["pos"]}}}),
     ["test", "class names", "train", "class indices"]),
]


@pytest.mark.parametrize("case, write, fragments", LEAF_FILE_CASES, ids=[c[0] for c in LEAF_FILE_CASES])
def test_malformed_leaf_files_end_in_one_line_naming_file_and_field(tmp_path, capsys, case, write, fragments):
    source = write(tmp_path / "leaf")
    assert_names(prepare_leaf(capsys, source, tmp_path / "out"), *fragments)
    assert not (tmp_path / "out").exists()
    assert_names(cli_error(capsys, "data", "stats", str(source), "--plot", str(tmp_path / "plot.png")), *fragments)


# meta.json of a LEAF directory used as a source: only label_names is read, and it is checked
LEAF_META_CASES = [
    ("invalid_json", b"{oops", ["meta.json", "not valid JSON"]),
    ("not_an_object", [1, 2], ["meta.json", "not a JSON object"]),
    ("label_names_a_string", {"label_names": "ab"}, ["meta.json", "field label_names is the string 'ab'"]),
    ("label_names_repeated", {"label_names": ["neg", "neg"]}, ["meta.json", "field label_names", "twice"]),
    ("label_names_empty_name", {"label_names": ["neg", " "]}, ["meta.json", "field label_names[1]"]),
    ("other_fields_are_ignored", {"label_names": ["neg", "pos"], "written_by": "hand"}, None),  # accepted
]


@pytest.mark.parametrize("case, meta, fragments", LEAF_META_CASES, ids=[c[0] for c in LEAF_META_CASES])
def test_bad_meta_json_of_a_leaf_source_is_one_line(tmp_path, capsys, case, meta, fragments):
    source = write_leaf(tmp_path / "leaf", meta=meta)
    if fragments is None:
        assert prepare(DataConfig(source=f"leaf:{source}", min_samples=2, public_fraction=0), tmp_path / "out")
        return
    assert_names(prepare_leaf(capsys, source, tmp_path / "out"), *fragments)


def test_labels_must_fit_the_label_names_of_meta_json(tmp_path, capsys):
    source = write_leaf(tmp_path / "leaf", train=with_user_a(y=[0, 2, 0]), meta={"label_names": ["neg", "pos"]})
    assert_names(prepare_leaf(capsys, source, tmp_path / "out"),
                 "train/data.json", "user 'a' y[1] is 2", "meta.json names 2 classes")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A prepared directory (two devices, no public split) that each case below copies and damages."""
    root = tmp_path_factory.mktemp("prepared")
    source = write_leaf(root / "leaf")
    prepare(DataConfig(source=f"leaf:{source}", min_samples=2, public_fraction=0), root / "data")
    return root / "data"


def _edit_meta(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        change(meta)
        (folder / "meta.json").write_text(json.dumps(meta))
    return edit


def _edit_train(change: Callable[[dict], Any]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        blob = json.loads((folder / "train" / "data.json").read_text())
        change(blob)
        (folder / "train" / "data.json").write_text(json.dumps(blob))
    return edit


# a prepared directory's meta.json is read whole: every field a later stage uses is checked
PREPARED_CASES = [
    ("meta_not_json", lambda f: (f / "meta.json").write_text("{"), ["meta.json", "not valid JSON"]),
    ("meta_not_utf8", lambda f: (f / "meta.json").write_bytes(b'{"format": "\xfe"}'), ["meta.json", "not UTF-8"]),
    ("meta_a_directory", lambda f: ((f / "meta.json").unlink(), (f / "meta.json").mkdir()), ["meta.json", "is a directory"]),
    ("meta_a_list", lambda f: (f / "meta.json").write_text("[]"), ["meta.json", "not a JSON object"]),
    ("format_missing", _edit_meta(lambda m: m.pop("format")), ["meta.json", "missing field(s) format"]),
    ("format_other", _edit_meta(lambda m: m.update(format="leaf/9")), ["meta.json", "field format", "leaf/9"]),
    ("num_labels_missing", _edit_meta(lambda m: m.pop("num_labels")), ["meta.json", "num_labels"]),
    ("num_labels_wrong", _edit_meta(lambda m: m.update(num_labels=3)), ["meta.json", "field num_labels is the number 3"]),
    ("label_names_a_string", _edit_meta(lambda m: m.update(label_names="ab")), ["meta.json", "field label_names"]),
    ("validation_fraction_text", _edit_meta(lambda m: m.update(validation_fraction="0.1")),
     ["meta.json", "field validation_fraction"]),
    ("validation_fraction_too_big", _edit_meta(lambda m: m.update(validation_fraction=0.7)),
     ["meta.json", "field validation_fraction is the number 0.7"]),
    ("provenance_a_list", _edit_meta(lambda m: m.update(provenance=[])), ["meta.json", "field provenance"]),
    ("label_beyond_label_names", _edit_train(lambda b: b["user_data"]["a"]["y"].__setitem__(0, 7)),
     ["train/data.json", "user 'a' y[0] is 7", "2 classes"]),
    ("label_name_instead_of_index", _edit_train(lambda b: b["user_data"]["a"]["y"].__setitem__(0, "0")),
     ["train/data.json", "user 'a' y[0] is the string '0'", "class indices"]),
]


@pytest.mark.parametrize("case, damage, fragments", PREPARED_CASES, ids=[c[0] for c in PREPARED_CASES])
def test_damaged_prepared_directory_is_one_line(prepared, tmp_path, capsys, case, damage, fragments):
    folder = tmp_path / "data"
    shutil.copytree(prepared, folder)
    damage(folder)
    # evaluate reads the data before the model: the model folder need not exist
    line = cli_error(capsys, "evaluate", "--data", str(folder), "--model", str(tmp_path / "none"),
                     "--out", str(tmp_path / "out"))
    assert_names(line, str(folder), *fragments)


@pytest.mark.parametrize("labels, texts, fragment", [
    ([0, None], ["a", "b"], "label of row 1 is null"),
    ([0, -1], ["a", "b"], "label of row 1 is -1"),
    ([0, 0.5], ["a", "b"], "label of row 1 is the number 0.5"),
    ([0, [1]], ["a", "b"], "label of row 1 is a list"),
    ([1, "1"], ["a", "b"], "mix class indices and class names"),
    ([0, 1], ["a", "  "], "text of row 1 (owner 'o1') is empty"),
    ([0, 1], ["a", "\ud800"], "lone surrogate"),
])
def test_every_source_refuses_labels_that_are_not_classes_and_empty_texts(labels, texts, fragment):
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        make_dataset(texts, labels, owners=["o0", "o1"], origin="rows.csv")


def test_label_names_must_be_a_list_of_distinct_names():
    with pytest.raises(DataError, match="must be a list of non-empty class names"):
        make_dataset(["a", "b"], ["a", "b"], label_names="ab", origin="src")
    with pytest.raises(DataError, match="name a class twice"):
        make_dataset(["a", "b"], [0, 1], label_names=["x", "x"], origin="src")


def test_negative_seed_is_refused(tmp_path, capsys):
    source = write_leaf(tmp_path / "leaf")
    assert_names(prepare_leaf(capsys, source, tmp_path / "out", "--seed", "-1"), "seed must be >= 0, got -1")


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder no file can be created in: read-only by mode, or (root ignores modes) under /sys."""
    if os.geteuid() == 0:
        return Path("/sys/fedrobust-unwritable")
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_an_unwritable_out_folder_is_one_line_without_traceback(tmp_path):
    source = write_leaf(tmp_path / "leaf")
    out = _unwritable_folder(tmp_path) / "out"
    line = cli_error_in_subprocess("data", "prepare", "--source", f"leaf:{source}", "--out", str(out), *SMALL)
    assert_names(line, str(out.parent))


def test_devices_without_train_or_test_texts_are_left_out_and_counted(tmp_path, capsys):
    train, test = _copy(TRAIN), _copy(TEST)
    train["users"].append("only_train")
    train["num_samples"].append(2)
    train["user_data"]["only_train"] = {"x": ["p", "q"], "y": [0, 1]}
    test["users"].append("only_test")
    test["num_samples"].append(2)
    test["user_data"]["only_test"] = {"x": ["r", "s"], "y": [1, 0]}
    source = write_leaf(tmp_path / "leaf", train=train, test=test)
    assert main(["data", "prepare", "--source", f"leaf:{source}", "--out", str(tmp_path / "out"), *SMALL]) == 0
    assert "devices left out    1 no train, 1 no test, 0 below min test" in capsys.readouterr().out
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["dropped_clients"] == {"no_train": 1, "no_test": 1, "below_min_test": 0}
    assert stats["devices"]["clients_without_train"] == stats["devices"]["clients_without_test"] == 0
    assert FederatedDataset.load(tmp_path / "out").client_ids == ["a", "b"]


def test_a_directory_with_devices_lacking_a_split_never_offers_them(prepared, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(prepared, folder)
    _edit_train(lambda b: (b["users"].append("z"), b["num_samples"].append(1),
                           b["user_data"].update(z={"x": ["zz"], "y": [1]})))(folder)
    dataset = FederatedDataset.load(folder)
    assert dataset.client_ids == ["a", "b"]
    assert dataset.dropped_clients == {"no_train": [], "no_test": ["z"]}
    with pytest.raises(DataError, match="no client 'z'"):
        dataset.client("z")


def test_a_device_with_no_texts_to_score_is_never_scored(tmp_path_factory, tmp_path):
    data_dir, model_dir = make_federation(tmp_path_factory.mktemp("unscored"), num_owners=2)
    full = FederatedDataset.load(data_dir).client(0)
    empty = type(full)(full.client_id, full.train_texts, full.train_labels, [], [])
    config = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, personalize={"epochs": 1},
                        evaluate={"examples": 2})
    algorithm = build_algorithm("local_only")

    def must_not_personalize(call):
        raise AssertionError("a device with nothing to score was personalized")

    algorithm.personalized_model = must_not_personalize
    call = ClientCall(config=config, partition_id=0, data=empty, tokenizer=tokenizer_for(str(model_dir)),
                      model=initial_model(str(model_dir), config.init, 0), server_round=1,
                      state=ClientStateStore(str(tmp_path / "state"), "000000"))
    metrics = personalize_and_measure(algorithm, call)
    assert metrics["num-examples"] == 0
    assert math.isnan(metrics["global/natural_acc"]) and math.isnan(metrics["personalized/natural_acc"])
    summary = summarize_clients(client_rows("local_only", 0, empty.client_id, metrics))
    assert summary["global"]["natural_acc"] == {"clients": 0}  # not averaged in as 0.0
