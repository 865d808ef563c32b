"""Failed devices are a problem, not a footnote: a phase (a federated round's sampled devices, or
the evaluated devices) in which too few devices succeeded fails the federation, and the error
lists why, grouped by reason.

``simulation.min_success_share`` unset: every device must succeed, except those that failure
injection (``simulation.inject_failure_fraction``) makes fail on purpose. Set to a number: at least
that share of the phase's devices must succeed, injected failures counted like any other. A phase
in which no device succeeded always fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fedrobust.errors import FedrobustError
from fedrobust.federated.fault_injection import fails_on_purpose

SHOWN_CLIENTS = 3
SHOWN_REASONS = 4


class FederationError(FedrobustError):
    """The federation cannot go on, or ended with too few devices done."""


def group_reasons(failed: Mapping[str, str]) -> dict[str, list[str]]:
    """reason -> the clients that failed with it, most frequent reason first."""
    groups: dict[str, list[str]] = {}
    for client, reason in failed.items():
        groups.setdefault(reason, []).append(client)
    return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def reason_counts(failed: Mapping[str, str]) -> dict[str, int]:
    return {reason: len(clients) for reason, clients in group_reasons(failed).items()}


def describe_failures(failed: Mapping[str, str]) -> str:
    """One line: ``<reason> (N devices: a, b, c, ...); ...``."""
    parts = []
    groups = group_reasons(failed)
    for reason, clients in list(groups.items())[:SHOWN_REASONS]:
        shown = ", ".join(clients[:SHOWN_CLIENTS]) + (", ..." if len(clients) > SHOWN_CLIENTS else "")
        parts.append(f"{reason} ({len(clients)} device{'s' if len(clients) != 1 else ''}: {shown})")
    if len(groups) > SHOWN_REASONS:
        parts.append(f"and {len(groups) - SHOWN_REASONS} more reasons")
    return "; ".join(parts)


def shortfall(phase: str, devices: Iterable[int], succeeded: Iterable[int], engine: Any, seed: int) -> str | None:
    """Why ``phase`` fails the federation (``engine``: a SimulationEngineConfig), or None when enough
    of its devices succeeded."""
    devices, succeeded = list(devices), set(succeeded)
    if not devices:
        return None
    if not succeeded & set(devices):
        return f"{phase}: none of the {len(devices)} devices succeeded"
    if engine.min_success_share is None:
        counted = [d for d in devices if not fails_on_purpose(engine, seed, d)]
        required, rule = 1.0, "every device must succeed (simulation.min_success_share unset)"
    else:
        counted = devices
        required, rule = engine.min_success_share, f"simulation.min_success_share is {engine.min_success_share:g}"
    done = sum(d in succeeded for d in counted)
    if not counted or done >= required * len(counted) - 1e-9:
        return None
    return f"{phase}: {len(counted) - done} of {len(counted)} devices failed and {rule}"


def federation_error(problem: str, failed: Mapping[str, str], where: str) -> FederationError:
    """The error for a shortfall, with the reasons and the fix, in one line."""
    reasons = describe_failures(failed)
    return FederationError(f"{problem}; {reasons + '; ' if reasons else ''}results so far are in {where}; fix the cause, "
                           f"or lower simulation.min_success_share to accept failed devices")
