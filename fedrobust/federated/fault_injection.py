"""Faults a config injects on purpose to exercise fault tolerance: devices that raise
(``simulation.inject_failure_fraction``) and devices that take longer (``simulation.inject_delay_s``
on each of ``simulation.inject_delay_devices``, every time they run: a delay far longer than the
stall window makes a node that never answers).

Which devices fail is a function of the seed and the device id, so the server knows them too: the
default ``simulation.min_success_share`` allows exactly the injected failures.
"""

from __future__ import annotations

import time
from typing import Any

from fedrobust.seeding import derive_seed

INJECTED_FAILURE = "injected failure (simulation.inject_failure_fraction)"


class InjectedClientFailure(RuntimeError):
    """Raised on purpose by a fraction of devices to exercise fault tolerance."""


def fails_on_purpose(engine: Any, seed: int, device: int) -> bool:
    """Whether failure injection makes ``device`` fail (``engine``: a SimulationEngineConfig)."""
    fraction = engine.inject_failure_fraction
    return fraction > 0 and derive_seed(seed, "inject-failure", device) / 2**31 < fraction


def inject_faults(engine: Any, seed: int, device: int) -> None:
    """In a device's call, before its work: sleep if the device is delayed, raise if it fails on purpose."""
    if device in engine.inject_delay_devices and engine.inject_delay_s > 0:
        time.sleep(engine.inject_delay_s)
    if fails_on_purpose(engine, seed, device):
        raise InjectedClientFailure(INJECTED_FAILURE)
