"""Global model after every round, and the progress record a killed run resumes from (with the
state a round-DP wrapper carries between rounds, e.g. the adaptive clipping bound)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord
from safetensors.torch import load_file, save_file

from fedrobust.errors import ConfigError
from fedrobust.federated.results import ROUND_COLUMNS, write_csv
from fedrobust.files import write_text_atomically

PROGRESS = "progress.json"


class Checkpointer:
    def __init__(self, run_dir: Path, fingerprint: str) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "checkpoints"
        self.fingerprint = fingerprint
        self.rows: list[dict[str, Any]] = []
        self.strategy_state: dict[str, Any] = {}  # the aggregation strategy's state after the last round

    def _path(self, server_round: int) -> Path:
        return self.dir / f"round_{server_round:04d}.safetensors"

    def resume(self) -> tuple[int, ArrayRecord | None]:
        """(last completed round, its global weights); (0, None) for a new run."""
        progress_path = self.run_dir / PROGRESS
        if not progress_path.is_file():
            return 0, None
        progress = json.loads(progress_path.read_text())
        if progress["fingerprint"] != self.fingerprint:
            raise ConfigError(
                f"{self.run_dir} holds a run with a different config (fingerprint {progress['fingerprint']}); "
                f"use another --out, or delete the directory to start over"
            )
        self.rows = progress["rounds"]
        self.strategy_state = progress.get("strategy_state", {})
        completed = int(progress["completed_round"])
        if completed == 0:
            return 0, None
        return completed, ArrayRecord(load_file(str(self._path(completed))))

    def save(self, server_round: int, arrays: ArrayRecord, row: dict[str, Any],
             strategy_state: dict[str, Any] | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._path(server_round).with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in arrays.to_torch_state_dict().items()}, str(tmp))
        tmp.replace(self._path(server_round))
        self.rows = [r for r in self.rows if r["round"] < server_round] + [row]
        write_csv(self.run_dir / "rounds.csv", ROUND_COLUMNS, self.rows)
        self.strategy_state = dict(strategy_state or {})
        progress = {"fingerprint": self.fingerprint, "completed_round": server_round, "rounds": self.rows,
                    "strategy_state": self.strategy_state}
        write_text_atomically(self.run_dir / PROGRESS, json.dumps(progress, indent=2))  # last: the commit point
