"""Reading a JSON file a user may have written or damaged: every way it can fail is a DataError
that names the file (not UTF-8, not JSON, nested too deeply, a directory, unreadable); and the
words a message uses for a parsed value of the wrong kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedrobust.errors import DataError
from fedrobust.files import read_user_text


def read_json(path: Path, what: str = "JSON file") -> Any:
    """The parsed content of ``path``; ``what`` says in the message what the file should be."""
    text = read_user_text(path, what, DataError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                        f"correct the {what} or write it again") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to read; a {what} is at most a few levels deep") from None


def is_plain_text(value: str) -> bool:
    """False for strings holding a lone surrogate (e.g. an escaped "\\ud800"), which no file can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_kind(value: Any) -> str:
    """A parsed JSON value as a message reads it: ``null``, ``the number 0.5``, ``the string 'ab'``, ``a list [0]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    shown = ascii(value) if isinstance(value, str) else str(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    for kind, words in ((str, "the string"), (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return f"{words} {shown}"
    return f"a {type(value).__name__}"
