"""On-disk record of every evaluated candidate, so a killed search resumes where it stopped.

    OUT/candidates/<key>/student/      the distilled student (a `save_model` folder)
    OUT/candidates/<key>/result.json   {"key", "student", "metrics", ...}: written last, atomically

A folder without result.json is an evaluation that was interrupted; it is redone.

Several searches may share one store (config key ``store: FOLDER``: e.g. a random search and a
successive-halving search over the same space reuse each other's results at equal budget, see
fedrobust.search.fidelity). A shared store records the evaluation setting it holds results of
(FOLDER/store_fingerprint.json) and refuses a search of another setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fedrobust.errors import ConfigError

RESULT_FILE = "result.json"
FINGERPRINT_FILE = "store_fingerprint.json"
CONFIG_FILE = "search_config.yaml"  # OUT/search_config.yaml: the resolved config of the search in OUT


def write_json_atomic(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


class CandidateStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def dir_for(self, key: str) -> Path:
        return self.root / "candidates" / key

    def load(self, key: str) -> dict[str, Any] | None:
        path = self.dir_for(key) / RESULT_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def save(self, key: str, record: dict[str, Any]) -> None:
        write_json_atomic(self.dir_for(key) / RESULT_FILE, record)

    def keys(self) -> list[str]:
        folder = self.root / "candidates"
        return sorted(p.name for p in folder.iterdir() if (p / RESULT_FILE).is_file()) if folder.is_dir() else []

    def claim(self, fingerprint: dict[str, Any]) -> None:
        """Record ``fingerprint`` in a new store; refuse a store that holds results of another one."""
        path = self.root / FINGERPRINT_FILE
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(f"{path} is damaged ({exc}); use another config key store") from None
            if stored != json.loads(json.dumps(fingerprint)):
                raise ConfigError(f"config key store: {self.root} holds candidates scored with another distill/evaluation "
                                  f"setting ({path}); use another store folder, or restore that setting")
            return
        write_json_atomic(path, fingerprint)
