"""Per-example random streams, so an attack's results do not depend on how its examples are batched
or split across threads: example ``i`` of a call seeded ``seed`` always draws the same numbers.
A caller that pools the examples of several calls (the devices of a cohort) names each example's
stream, ``(seed, index)``, as the separate calls would have drawn it."""

from __future__ import annotations

import random
from typing import Protocol


Stream = tuple[int, int]  # (the call's seed, the example's position in that call)


def default_streams(seed: int, count: int) -> list[Stream]:
    """The streams of one call's examples: ``(seed, 0) .. (seed, count - 1)``."""
    return [(seed, index) for index in range(count)]


class IntegerSource(Protocol):
    """What random word edits need; ``numpy.random.Generator`` is one too."""

    def integers(self, low: int, high: int) -> int: ...


class ExampleRandom:
    """``integers(low, high)``: uniform in [low, high), from the stream of (seed, example index)."""

    __slots__ = ("_random",)

    def __init__(self, seed: int, index: int) -> None:
        self._random = random.Random((int(seed) << 32) ^ int(index))

    def integers(self, low: int, high: int) -> int:
        return self._random.randrange(low, high)
