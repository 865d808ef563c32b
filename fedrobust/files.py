"""Writing files so that a reader never sees half of one, and reading a file a user wrote so that
every way it can fail is one error naming the file."""

from __future__ import annotations

import os
from pathlib import Path

from fedrobust.errors import FedrobustError


def write_text_atomically(path: Path, text: str) -> None:
    """Write to a hidden sibling, then rename over ``path`` (atomic on one file system)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_user_text(path: Path, what: str, error: type[FedrobustError]) -> str:
    """``path``'s UTF-8 text (a BOM is dropped); ``error`` naming the file, and ``what`` it should be,
    when it is a directory, unreadable or not UTF-8 (with the line of the first bad byte)."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a directory, not a {what}; move it away or rename it")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or type(exc).__name__})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the {what} as UTF-8") from None
