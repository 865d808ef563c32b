"""Global model after every round, and the progress record a killed run resumes from (with the
state a round-DP wrapper carries between rounds, e.g. the adaptive clipping bound, and the arrays
a strategy carries between rounds: a server optimizer's momentum or moments, SCAFFOLD's server
control variate, in ``round_NNNN.strategy.safetensors`` beside the round's weights)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fedrobust.errors import ConfigError
from fedrobust.federated.results import ROUND_COLUMNS, write_csv
from fedrobust.files import write_text_atomically

PROGRESS = "progress.json"
CLIENT_STATE = "client_state"  # the per-client state folder of fedrobust.federated.client_state
PROGRESS_FIELDS = {"fingerprint": str, "completed_round": int, "rounds": list}


class Checkpointer:
    def __init__(self, run_dir: Path, fingerprint: str) -> None:
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "checkpoints"
        self.fingerprint = fingerprint
        self.rows: list[dict[str, Any]] = []
        self.strategy_state: dict[str, Any] = {}  # the aggregation strategy's state after the last round
        self.strategy_arrays: dict[str, np.ndarray] = {}  # its arrays (fedrobust.federated.strategy.state_arrays)

    def _path(self, server_round: int) -> Path:
        return self.dir / f"round_{server_round:04d}.safetensors"

    def _strategy_path(self, server_round: int) -> Path:
        return self.dir / f"round_{server_round:04d}.strategy.safetensors"

    def resume(self) -> tuple[int, ArrayRecord | None]:
        """(last completed round, its global weights); (0, None) for a new run. A damaged progress
        record is refused in one line; a damaged last checkpoint falls back to the round before when
        that is exact (no strategy state to restore), and is refused otherwise."""
        progress_path = self.run_dir / PROGRESS
        if not progress_path.is_file():
            return 0, None
        progress = read_progress(progress_path)
        if progress["fingerprint"] != self.fingerprint:
            raise ConfigError(
                f"{self.run_dir} holds a run with a different config (fingerprint {progress['fingerprint']}); "
                f"use another --out, or delete the directory to start over"
            )
        self.rows = progress["rounds"]
        self.strategy_state = progress.get("strategy_state", {})
        completed = progress["completed_round"]
        if completed == 0:
            return 0, None
        arrays, problem = self._load(completed)
        if arrays is not None and self._strategy_path(completed).is_file():
            try:
                self.strategy_arrays = {k: v.numpy() for k, v in load_file(str(self._strategy_path(completed))).items()}
            except (OSError, SafetensorError) as exc:
                arrays, problem = None, f"its strategy state is not a readable safetensors file: {exc}"
        if arrays is not None:
            return completed, arrays
        damaged, previous = self._path(completed), completed - 1
        earlier = None if previous == 0 else self._load(previous)[0]
        # Running round `completed` again is exact only from the global weights alone: state carried
        # between rounds (the strategy's, or per-client state, whose older saves are pruned) is not kept per round.
        carried = self.strategy_state or self._strategy_path(completed).exists() or (self.run_dir / CLIENT_STATE).exists()
        if carried or (previous > 0 and earlier is None):
            raise ConfigError(f"{damaged} is damaged ({problem}); delete {self.run_dir} to start the federation over")
        print(f"warning: {damaged} is damaged ({problem}); resuming from round {previous} and running round "
              f"{completed} again", flush=True)
        self.rows = [r for r in self.rows if r["round"] <= previous]
        self._commit(previous)
        damaged.unlink(missing_ok=True)
        return previous, earlier

    def _load(self, server_round: int) -> tuple[ArrayRecord | None, str | None]:
        """A round's checkpoint, or None and why it cannot be read."""
        path = self._path(server_round)
        try:
            return ArrayRecord(load_file(str(path))), None
        except FileNotFoundError:
            return None, "the file is missing"
        except (OSError, SafetensorError) as exc:
            return None, f"not a readable safetensors file: {exc}"

    def _commit(self, server_round: int) -> None:
        write_csv(self.run_dir / "rounds.csv", ROUND_COLUMNS, self.rows)
        progress = {"fingerprint": self.fingerprint, "completed_round": server_round, "rounds": self.rows,
                    "strategy_state": self.strategy_state}
        write_text_atomically(self.run_dir / PROGRESS, json.dumps(progress, indent=2))  # last: the commit point

    def save(self, server_round: int, arrays: ArrayRecord, row: dict[str, Any],
             strategy_state: dict[str, Any] | None = None, strategy_arrays: dict[str, np.ndarray] | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _save_atomically({k: v.contiguous() for k, v in arrays.to_torch_state_dict().items()}, self._path(server_round))
        if strategy_arrays:
            tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in strategy_arrays.items()}
            _save_atomically(tensors, self._strategy_path(server_round))
        self.strategy_arrays = dict(strategy_arrays or {})
        self.rows = [r for r in self.rows if r["round"] < server_round] + [row]
        self.strategy_state = dict(strategy_state or {})
        self._commit(server_round)


def _save_atomically(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)


def read_progress(path: Path) -> dict[str, Any]:
    """progress.json, checked: a ConfigError naming the file, the field and the fix when it is damaged."""
    fix = f"delete {path.parent} to start the federation over"
    try:
        progress = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is damaged: not readable JSON ({exc}); {fix}") from None
    if not isinstance(progress, dict):
        raise ConfigError(f"{path} is damaged: a JSON {type(progress).__name__}, not an object; {fix}")
    for key, types in PROGRESS_FIELDS.items():
        value = progress.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            found = "missing" if value is None else f"a {type(value).__name__}"
            raise ConfigError(f"{path} is damaged: field {key} is {found}; {fix}")
    if progress["completed_round"] < 0:
        raise ConfigError(f"{path} is damaged: field completed_round is {progress['completed_round']}; {fix}")
    if not all(isinstance(row, dict) and isinstance(row.get("round"), int) for row in progress["rounds"]):
        raise ConfigError(f"{path} is damaged: field rounds holds an entry without an integer round; {fix}")
    if not isinstance(progress.get("strategy_state", {}), dict):
        raise ConfigError(f"{path} is damaged: field strategy_state is not an object; {fix}")
    return progress
