"""Per-client state that outlives a round (Ditto's personal model, FedRep's local head).

Kept on disk under the run directory rather than in Flower's ``context.state``: it survives a
killed run, so a resumed run continues exactly, and memory stays flat with thousands of
clients. Each save is tagged with its round, and a client reading state in round r takes the
newest save from before r, so a round that was cut off and is re-run never sees its own
partial writes.

Beside the weights, each save keeps the accountant history of the DP-SGD steps (and the steps
without DP) on the device's data that produced them, in the same file's metadata: weights and
their privacy cost are written together and read back together.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from fedrobust.privacy.accounting import History, compose

KEEP_VERSIONS = 2
DP_HISTORY = "dp_history"


class ClientStateStore:
    def __init__(self, run_dir: str | Path, client_key: str) -> None:
        self.run_dir = Path(run_dir)  # shared with the server (e.g. the teacher's attributions are read there)
        self.root = self.run_dir / "client_state" / client_key

    def _versions(self) -> list[tuple[int, Path]]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.glob("round_*.safetensors"):
            found.append((int(path.stem.split("_")[1]), path))
        return sorted(found)

    def _latest(self, before_round: int) -> Path | None:
        earlier = [path for r, path in self._versions() if r < before_round]
        return earlier[-1] if earlier else None

    def load(self, before_round: int) -> dict[str, torch.Tensor] | None:
        latest = self._latest(before_round)
        return load_file(str(latest)) if latest else None

    def load_dp_history(self, before_round: int) -> History:
        """The accountant history saved with the newest weights before ``before_round`` (empty: none)."""
        latest = self._latest(before_round)
        if latest is None:
            return ()
        with safe_open(str(latest), framework="pt") as handle:
            saved = (handle.metadata() or {}).get(DP_HISTORY)
        return compose(tuple(entry) for entry in json.loads(saved)) if saved else ()

    def save(self, server_round: int, tensors: dict[str, torch.Tensor], dp_history: History = ()) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"round_{server_round:05d}.safetensors"
        tmp = target.with_suffix(".tmp")
        metadata = {DP_HISTORY: json.dumps([list(entry) for entry in dp_history])}
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        os.replace(tmp, target)
        for r, path in self._versions()[:-KEEP_VERSIONS]:
            if r < server_round:
                path.unlink(missing_ok=True)
