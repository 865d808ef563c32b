"""Which registered attacks can run here, so that a config naming one that cannot is refused at
validation, not by every device after the rounds (the builders of these attacks raise)."""

from __future__ import annotations

import importlib.util

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.attacks.unavailable_recipes import MISSING_RESOURCES

TEXTATTACK_PREFIX = "textattack:"


def unavailable_reason(name: str) -> str | None:
    """Why the registered attack ``name`` cannot run on this machine, or None if it can."""
    if name in MISSING_RESOURCES:
        return "needs " + "; ".join(MISSING_RESOURCES[name]) + ", which fedrobust does not download"
    if name.startswith(TEXTATTACK_PREFIX) and importlib.util.find_spec("textattack") is None:
        return "textattack is not installed (pip install textattack==0.3.11)"
    return None


def runnable_attacks() -> list[str]:
    """The registered attacks that can run here."""
    return [name for name in ATTACKS.names() if unavailable_reason(name) is None]
