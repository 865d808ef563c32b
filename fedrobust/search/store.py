"""On-disk record of every evaluated candidate, so a killed search resumes where it stopped.

    OUT/candidates/<key>/student/      the distilled student (a `save_model` folder)
    OUT/candidates/<key>/result.json   {"key", "student", "metrics", ...}: written last, atomically

A folder without result.json is an evaluation that was interrupted; it is redone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"
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
