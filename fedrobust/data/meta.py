"""meta.json of a federated directory: read and checked, so a damaged file fails with its field named.

A prepared directory's meta.json (written by fedrobust.data.prepare) must hold ``format``,
``label_names`` (at least two distinct, non-empty class names) and ``num_labels`` (their count);
``validation_fraction`` (in [0, 0.5)), ``options`` and ``provenance`` are optional. A LEAF directory
written by another tool may carry a meta.json with ``label_names`` only, or none at all.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fedrobust.data.json_files import is_plain_text, json_kind, read_json
from fedrobust.errors import DataError

META_FILE = "meta.json"
FORMAT = "fedrobust-leaf/1"
MAX_VALIDATION_FRACTION = 0.5
FIX = "prepare the directory again with `fedrobust data prepare`, or correct the field"


def check_label_names(value: Any, path: Path) -> list[str]:
    """``value`` as a list of class names, or a DataError naming ``path`` and the field."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise DataError(f"{path}: field label_names is {json_kind(value)}; it must be a list "
                        "of class names, e.g. [\"negative\", \"positive\"]")
    for position, name in enumerate(value):
        if not name.strip() or not is_plain_text(name):
            raise DataError(f"{path}: field label_names[{position}] is {ascii(name)}; a class name is non-empty text")
    duplicates = sorted({name for name in value if value.count(name) > 1})
    if duplicates:
        raise DataError(f"{path}: field label_names lists {duplicates[0]!r} twice; class names must be distinct")
    if len(value) < 2:
        raise DataError(f"{path}: field label_names has {len(value)} class(es); a classifier needs at least 2")
    return list(value)


def _object(path: Path) -> dict[str, Any]:
    blob = read_json(path, META_FILE)
    if not isinstance(blob, dict):
        raise DataError(f"{path}: is {json_kind(blob)}, not a JSON object with label_names; {FIX}")
    return blob


def read_leaf_meta(root: Path) -> dict[str, Any]:
    """A LEAF directory's meta.json if it has one ({} if not), its label_names checked when present."""
    path = Path(root) / META_FILE
    if not path.exists():
        return {}
    blob = _object(path)
    if "label_names" in blob:
        blob["label_names"] = check_label_names(blob["label_names"], path)
    return blob


def read_meta(root: Path) -> dict[str, Any]:
    """A prepared directory's meta.json, every field a later stage reads checked."""
    root = Path(root)
    path = root / META_FILE
    if not path.exists():
        raise DataError(f"{root}: not a prepared federated directory (no {META_FILE}); "
                        f"run `fedrobust data prepare --out {root}`")
    blob = _object(path)
    missing = [key for key in ("format", "label_names", "num_labels") if key not in blob]
    if missing:
        raise DataError(f"{path}: missing field(s) {', '.join(missing)}; {FIX}")
    if blob["format"] != FORMAT:
        raise DataError(f"{path}: field format is {json_kind(blob['format'])}, expected {FORMAT!r}; {FIX}")
    names = check_label_names(blob["label_names"], path)
    count = blob["num_labels"]
    if isinstance(count, bool) or not isinstance(count, int) or count != len(names):
        raise DataError(f"{path}: field num_labels is {json_kind(count)} but label_names names {len(names)} classes; "
                        f"set num_labels to {len(names)}")
    fraction = blob.get("validation_fraction", 0.0)
    if (isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction)
            or not 0 <= fraction < MAX_VALIDATION_FRACTION):
        raise DataError(f"{path}: field validation_fraction is {json_kind(fraction)}; it must be a number in "
                        f"[0, {MAX_VALIDATION_FRACTION}); {FIX}")
    for key in ("options", "provenance"):
        if key in blob and not isinstance(blob[key], dict):
            raise DataError(f"{path}: field {key} is {json_kind(blob[key])}; it must be an object; {FIX}")
    return blob
