"""What a stage of `fedrobust run` is: its upstream stages, the config it depends on, and its work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedrobust.pipeline.config import RunConfig


@dataclass
class StageContext:
    config: RunConfig
    dir: Path  # this stage's own output folder
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)  # finished records by stage name
    resumed: bool = False  # an interrupted attempt is being continued in ``dir``
    verbose: bool = False
    shared_dir: Path | None = None  # for what stages share beyond one fingerprint (the store's SHARED_DIR)

    def output_of(self, stage: str) -> str:
        return self.upstream[stage]["output"]


class Stage:
    """One step of the study. ``run`` writes into ``ctx.dir`` and returns a JSON-able record whose
    ``output`` names the artifact later stages use."""

    name: str = ""
    depends: tuple[str, ...] = ()
    resumable: bool = False  # continues an interrupted attempt instead of starting over

    def needed(self, config: RunConfig) -> bool:
        return True

    def inputs(self, config: RunConfig) -> Any:
        """Everything in the config that changes this stage's outputs (upstream results aside)."""
        raise NotImplementedError

    def describe(self, config: RunConfig) -> str:
        return ""

    def run(self, ctx: StageContext) -> dict[str, Any]:
        raise NotImplementedError
