"""LEAF's JSON format: read with validation, write deterministically.

A LEAF split directory holds one or more ``*.json`` files, each
``{"users": [...], "num_samples": [...], "user_data": {user: {"x": [...], "y": [...]}},
"hierarchies": [...]?}``. Sent140 rows carry ``x = [id, date, query, user, text]``; other
text datasets carry the text itself.

What a file may hold, checked when it is read (a DataError names the file, the user and the
position): user names are strings (or integers); every text is a non-empty string; labels are
class indices (integers >= 0, below the number of label names when those are known) or class
names (non-empty strings), one kind per file; no string holds a lone surrogate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from fedrobust.data.json_files import is_plain_text, json_kind, read_json
from fedrobust.errors import DataError

REQUIRED_KEYS = ("users", "num_samples", "user_data")
SENT140_ROW_LENGTH = 5
SENT140_TEXT_INDEX = 4
WHAT = "LEAF JSON file"
LABEL_KINDS = {"index": "class indices", "name": "class names"}


@dataclass
class LeafUser:
    texts: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    hierarchy: Any = None


@dataclass(frozen=True)
class LabelRule:
    """The labels a file may hold. Without ``label_names``: any index >= 0 or any name. With them:
    indices below ``len(label_names)``, or those names unless ``indices_only`` (a prepared
    directory, which stores indices)."""

    label_names: tuple[str, ...] | None = None
    indices_only: bool = False
    where: str = "meta.json"  # where the label names come from, for the messages

    def check(self, label: Any, at: str) -> str:
        """The label's kind ("index" or "name"), or a DataError naming ``at`` (file, user, position)."""
        if isinstance(label, int) and not isinstance(label, bool):
            if label < 0:
                raise DataError(f"{at} is {label}; class indices start at 0")
            if self.label_names is not None and label >= len(self.label_names):
                raise DataError(f"{at} is {label} but {self.where} names {len(self.label_names)} classes "
                                f"(indices 0..{len(self.label_names) - 1})")
            return "index"
        if isinstance(label, str):
            if self.indices_only:
                raise DataError(f"{at} is the string {label!r}; this directory stores class indices "
                                f"0..{len(self.label_names or ()) - 1} (see {self.where} label_names)")
            if not label.strip() or not is_plain_text(label):
                raise DataError(f"{at} is {label!r}, not a usable class name; give a non-empty name")
            if self.label_names is not None and label not in self.label_names:
                raise DataError(f"{at} is {label!r}, not one of the label_names {list(self.label_names)} of {self.where}")
            return "name"
        raise DataError(f"{at} is {json_kind(label)}; a label is a class index "
                        "(an integer >= 0) or a class name (a string)")


def _list_field(blob: dict, key: str, path: Path, what: str) -> list:
    value = blob[key]
    if not isinstance(value, list):
        raise DataError(f"{path}: field {key!r} is {json_kind(value)}; it must be a list of {what}")
    return value


def _user_name(value: Any, path: Path, position: int) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{path}: users[{position}] is {json_kind(value)}; a user name is a string")
    name = str(value)
    if not is_plain_text(name):
        raise DataError(f"{path}: users[{position}] holds a lone surrogate ({ascii(name)[:40]}); "
                        "user names must be valid Unicode")
    return name


def _text_of(x: Any, at: str) -> str:
    if isinstance(x, list) and len(x) == SENT140_ROW_LENGTH:
        x = x[SENT140_TEXT_INDEX]  # a Sent140 row [id, date, query, user, text]
    if not isinstance(x, str):
        raise DataError(f"{at} is neither text nor a Sent140 row [id, date, query, user, text]: {str(x)[:80]}")
    if not x.strip():
        raise DataError(f"{at} is an empty text; remove the example (and its label) or give it text")
    if not is_plain_text(x):
        raise DataError(f"{at} holds a lone surrogate ({ascii(x)[:60]}); "
                        "texts must be valid Unicode")
    return x


def read_leaf_file(path: Path, labels: LabelRule = LabelRule()) -> dict[str, LeafUser]:
    """Parse and validate one LEAF JSON file; every inconsistency names the file and the user."""
    path = Path(path)
    blob = read_json(path, WHAT)
    if not isinstance(blob, dict):
        raise DataError(f"{path}: expected a JSON object with keys {', '.join(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in blob]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; a LEAF file needs {', '.join(REQUIRED_KEYS)}")
    users = [_user_name(u, path, i) for i, u in enumerate(_list_field(blob, "users", path, "user names"))]
    num_samples = _list_field(blob, "num_samples", path, "example counts")
    user_data = blob["user_data"]
    if not isinstance(user_data, dict):
        raise DataError(f"{path}: field 'user_data' is {json_kind(user_data)}; it must be an object "
                        "{user: {\"x\": [...], \"y\": [...]}}")
    hierarchies = blob.get("hierarchies")
    if hierarchies is not None and not isinstance(hierarchies, list):
        raise DataError(f"{path}: field 'hierarchies' is {json_kind(hierarchies)}; it must be a list, one entry per user")
    if len(users) != len(num_samples):
        raise DataError(f"{path}: {len(users)} users but {len(num_samples)} num_samples entries")
    if hierarchies is not None and len(hierarchies) != len(users):
        raise DataError(f"{path}: {len(users)} users but {len(hierarchies)} hierarchies entries")
    if len(set(users)) != len(users):
        raise DataError(f"{path}: a user is listed twice in 'users'")
    result: dict[str, LeafUser] = {}
    first_label: tuple[str, Any, str] | None = None  # (kind, label, where) of the file's first label
    for index, (user, count) in enumerate(zip(users, num_samples)):
        record = user_data.get(user)
        if record is None:
            raise DataError(f"{path}: user {user!r} is in 'users' but not in 'user_data'")
        if not isinstance(record, dict) or "x" not in record or "y" not in record:
            raise DataError(f"{path}: user {user!r} lacks 'x' or 'y' in 'user_data'")
        xs, ys = record["x"], record["y"]
        for key, value in (("x", xs), ("y", ys)):
            if not isinstance(value, list):
                raise DataError(f"{path}: user {user!r} field {key!r} is {json_kind(value)}; it must be a list")
        if len(xs) != len(ys):
            raise DataError(f"{path}: user {user!r} has {len(xs)} x but {len(ys)} y")
        if isinstance(count, bool) or not isinstance(count, int) or count != len(ys):
            raise DataError(f"{path}: user {user!r} has num_samples {count} but {len(ys)} examples")
        texts = [_text_of(x, f"{path}: user {user!r} x[{i}]") for i, x in enumerate(xs)]
        for i, y in enumerate(ys):
            at = f"{path}: user {user!r} y[{i}]"
            kind = labels.check(y, at)
            if first_label is None:
                first_label = (kind, y, f"user {user!r} y[{i}]")
            elif kind != first_label[0]:
                raise DataError(f"{at} is {y!r} but {first_label[2]} is {first_label[1]!r}: labels mix class "
                                f"indices and class names; use one kind in the whole file")
        result[user] = LeafUser(texts, list(ys), hierarchies[index] if hierarchies is not None else None)
    extra = set(user_data) - set(result)
    if extra:
        raise DataError(f"{path}: user_data holds {len(extra)} user(s) not listed in 'users', e.g. {sorted(extra)[0]!r}")
    return result


def label_kind(users: dict[str, LeafUser]) -> str | None:
    """``index`` or ``name``: the kind of the users' labels (checked to be one), None without labels."""
    for record in users.values():
        for label in record.labels:
            return "name" if isinstance(label, str) else "index"
    return None


def check_same_label_kind(parts: Sequence[tuple[Path, dict[str, LeafUser]]]) -> None:
    """Refuse class indices in one file or split and class names in another (1 and "1" would be two classes)."""
    seen: tuple[Path, str] | None = None
    for where, users in parts:
        kind = label_kind(users)
        if kind is None:
            continue
        if seen is None:
            seen = (where, kind)
        elif kind != seen[1]:
            raise DataError(f"{where}: labels are {LABEL_KINDS[kind]} but {seen[0]} has {LABEL_KINDS[seen[1]]} "
                            "(1 and \"1\" would be two classes); use one kind of label in every file")


def read_leaf_split(directory: Path, labels: LabelRule = LabelRule()) -> dict[str, LeafUser]:
    """Merge every ``*.json`` in a LEAF split directory (e.g. ``train/``), in file-name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such LEAF split directory")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise DataError(f"{directory}: no *.json files")
    merged: dict[str, LeafUser] = {}
    per_file = []
    for path in files:
        users = read_leaf_file(path, labels)
        per_file.append((path, users))
        for user, record in users.items():
            if user in merged:
                raise DataError(f"{path}: user {user!r} also appears in another file of {directory}")
            merged[user] = record
    check_same_label_kind(per_file)
    return merged


def write_leaf_split(directory: Path, users: dict[str, LeafUser], filename: str = "data.json") -> Path:
    """Write one LEAF file; user order is kept so a read/write round trip is byte for byte."""
    directory.mkdir(parents=True, exist_ok=True)
    blob: dict[str, Any] = {
        "users": list(users),
        "num_samples": [len(record.labels) for record in users.values()],
        "user_data": {user: {"x": record.texts, "y": record.labels} for user, record in users.items()},
    }
    if any(record.hierarchy is not None for record in users.values()):
        blob["hierarchies"] = [record.hierarchy for record in users.values()]
    path = directory / filename
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(blob, handle, ensure_ascii=False)
    return path
