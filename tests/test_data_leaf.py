import json

import pytest

from fedrobust.data.leaf import read_leaf_file, read_leaf_split
from fedrobust.errors import DataError
from tests.data_helpers import write_json

GOOD = {"users": ["a", "b"], "num_samples": [2, 1],
        "user_data": {"a": {"x": ["hi", "yo"], "y": [0, 1]}, "b": {"x": ["hey"], "y": [1]}}}


def broken(**changes):
    blob = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is None:
            del blob[key]
        else:
            blob[key] = value
    return blob


@pytest.mark.parametrize(
    "blob, message",
    [
        (broken(users=None), "missing key\\(s\\) users"),
        (broken(num_samples=[2, 5]), "user 'b' has num_samples 5 but 1 examples"),
        (broken(num_samples=[2]), "2 users but 1 num_samples"),
        (broken(user_data={"a": {"x": ["hi"], "y": [0, 1]}, "b": {"x": ["hey"], "y": [1]}}), "user 'a' has 1 x but 2 y"),
        (broken(user_data={"a": {"x": ["hi", "yo"], "y": [0, 1]}}), "user 'b' is in 'users' but not in 'user_data'"),
        (broken(user_data={**GOOD["user_data"], "c": {"x": [], "y": []}}), "not listed in 'users'"),
        (broken(user_data={"a": {"x": [3, 4], "y": [0, 1]}, "b": {"x": ["hey"], "y": [1]}}), "neither text nor a Sent140 row"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_malformed_leaf_files_name_file_and_problem(tmp_path, blob, message):
    path = write_json(tmp_path / "train" / "bad.json", blob)
    with pytest.raises(DataError, match=message) as info:
        read_leaf_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_invalid_json_is_reported(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_leaf_file(path)


def test_split_directory_merges_files_and_rejects_users_in_two_files(tmp_path):
    write_json(tmp_path / "train" / "0.json", GOOD)
    other = {"users": ["c"], "num_samples": [1], "user_data": {"c": {"x": ["z"], "y": [0]}}}
    write_json(tmp_path / "train" / "1.json", other)
    assert list(read_leaf_split(tmp_path / "train")) == ["a", "b", "c"]
    write_json(tmp_path / "train" / "2.json", GOOD)
    with pytest.raises(DataError, match="also appears in another file"):
        read_leaf_split(tmp_path / "train")


def test_missing_split_directory(tmp_path):
    with pytest.raises(DataError, match="no such LEAF split directory"):
        read_leaf_split(tmp_path / "test")
