"""LEAF's JSON format: read with validation, write deterministically.

A LEAF split directory holds one or more ``*.json`` files, each
``{"users": [...], "num_samples": [...], "user_data": {user: {"x": [...], "y": [...]}},
"hierarchies": [...]?}``. Sent140 rows carry ``x = [id, date, query, user, text]``; other
text datasets carry the text itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrobust.errors import DataError

REQUIRED_KEYS = ("users", "num_samples", "user_data")
SENT140_ROW_LENGTH = 5
SENT140_TEXT_INDEX = 4


@dataclass
class LeafUser:
    texts: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)
    hierarchy: Any = None


def _text_of(x: Any, path: Path, user: str) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, list) and len(x) == SENT140_ROW_LENGTH and isinstance(x[SENT140_TEXT_INDEX], str):
        return x[SENT140_TEXT_INDEX]
    raise DataError(
        f"{path}: user {user!r} has an x entry that is neither text nor a Sent140 row "
        f"[id, date, query, user, text]: {str(x)[:80]}"
    )


def read_leaf_file(path: Path) -> dict[str, LeafUser]:
    """Parse and validate one LEAF JSON file; every inconsistency names the file and the user."""
    try:
        with open(path, encoding="utf-8") as handle:
            blob = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(blob, dict):
        raise DataError(f"{path}: expected a JSON object with keys {', '.join(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in blob]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}; a LEAF file needs {', '.join(REQUIRED_KEYS)}")
    users, num_samples, user_data = blob["users"], blob["num_samples"], blob["user_data"]
    hierarchies = blob.get("hierarchies")
    if len(users) != len(num_samples):
        raise DataError(f"{path}: {len(users)} users but {len(num_samples)} num_samples entries")
    if hierarchies is not None and len(hierarchies) != len(users):
        raise DataError(f"{path}: {len(users)} users but {len(hierarchies)} hierarchies entries")
    if len(set(users)) != len(users):
        raise DataError(f"{path}: a user is listed twice in 'users'")
    result: dict[str, LeafUser] = {}
    for index, (user, count) in enumerate(zip(users, num_samples)):
        user = str(user)
        record = user_data.get(user)
        if record is None:
            raise DataError(f"{path}: user {user!r} is in 'users' but not in 'user_data'")
        if "x" not in record or "y" not in record:
            raise DataError(f"{path}: user {user!r} lacks 'x' or 'y' in 'user_data'")
        xs, ys = record["x"], record["y"]
        if len(xs) != len(ys):
            raise DataError(f"{path}: user {user!r} has {len(xs)} x but {len(ys)} y")
        if len(ys) != count:
            raise DataError(f"{path}: user {user!r} has num_samples {count} but {len(ys)} examples")
        texts = [_text_of(x, path, user) for x in xs]
        result[user] = LeafUser(texts, list(ys), hierarchies[index] if hierarchies is not None else None)
    extra = set(user_data) - set(result)
    if extra:
        raise DataError(f"{path}: user_data holds {len(extra)} user(s) not listed in 'users', e.g. {sorted(extra)[0]!r}")
    return result


def read_leaf_split(directory: Path) -> dict[str, LeafUser]:
    """Merge every ``*.json`` in a LEAF split directory (e.g. ``train/``), in file-name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such LEAF split directory")
    files = sorted(directory.glob("*.json"))
    if not files:
        raise DataError(f"{directory}: no *.json files")
    merged: dict[str, LeafUser] = {}
    for path in files:
        for user, record in read_leaf_file(path).items():
            if user in merged:
                raise DataError(f"{path}: user {user!r} also appears in another file of {directory}")
            merged[user] = record
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
