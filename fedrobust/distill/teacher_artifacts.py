"""The folder `fedrobust teacher` writes, and reading it back for distillation.

    TEACHER_DIR/model/                   the fine-tuned teacher (fedrobust.models.io format)
    TEACHER_DIR/metrics.json             {"teacher": {"params", "natural_acc", ...}, ...}
    TEACHER_DIR/cache.safetensors        teacher outputs on the public training texts
    TEACHER_DIR/cache.json               which data and texts the cache belongs to
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fedrobust.errors import DataError
from fedrobust.evaluation.attribution_base import DEFAULT_ATTRIBUTION

MODEL_DIR, METRICS, CACHE, CACHE_META = "model", "metrics.json", "cache.safetensors", "cache.json"


def texts_fingerprint(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def write_cache(teacher_dir: Path, cache: dict[str, torch.Tensor], texts: list[str], meta: dict[str, Any]) -> None:
    save_file(cache, str(teacher_dir / CACHE))
    (teacher_dir / CACHE_META).write_text(
        json.dumps({**meta, "num_texts": len(texts), "texts_sha256": texts_fingerprint(texts)}, indent=2)
    )


def read_cache(teacher_dir: Path, texts: list[str]) -> dict[str, torch.Tensor]:
    """The cache, after checking it was computed on exactly these texts."""
    path, meta_path = teacher_dir / CACHE, teacher_dir / CACHE_META
    if not path.exists() or not meta_path.exists():
        raise DataError(f"{path} not found; run `fedrobust teacher --data DATA --out {teacher_dir}` first")
    meta = json.loads(meta_path.read_text())
    if meta.get("texts_sha256") != texts_fingerprint(texts):
        raise DataError(
            f"{path} was computed on other texts ({meta.get('num_texts')} vs {len(texts)} public training texts); "
            f"rerun `fedrobust teacher` on this data folder"
        )
    return load_file(str(path))


def cache_attribution(teacher_dir: Path) -> str:
    """The attribution method of the cached teacher attributions (caches from before the key: gradient x input)."""
    meta_path = teacher_dir / CACHE_META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return str(meta.get("attribution", DEFAULT_ATTRIBUTION))


def read_metrics(teacher_dir: Path) -> dict[str, Any]:
    path = teacher_dir / METRICS
    if not path.exists():
        raise DataError(f"{path} not found; run `fedrobust teacher --data DATA --out {teacher_dir}` first")
    return json.loads(path.read_text())
