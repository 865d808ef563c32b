"""Stable seeds derived from the run seed: every random choice of a run (a device's training,
its attacked sample, the devices a round samples, DP noise) has its own seed, so results do not
depend on the order in which work runs or on which process runs it."""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from the run seed and e.g. the round and the client."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
