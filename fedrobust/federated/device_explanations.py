"""Does personalization keep the explanations? Per device and phase, the agreement of the model's
token attributions with the teacher's (``evaluate.explanation_agreement``, off by default).

The teacher is large, so it never goes to a device: before the federation starts, the server (or
`fedrobust simulate`, before Ray starts) has the teacher explain every text the devices will be
evaluated on, once per text and its gold label, into ``RUN_DIR/teacher_attributions.npz``
(fedrobust.evaluation.attribution_cache); a resumed run reuses the file when it covers the texts by
the configured method, and computes it again otherwise. Each device reads it from the run directory
(refusing a file by another method), explains the same texts with its global and its personalized
model (for the gold label, by ``evaluate.attribution``: gradient x input by default, or integrated
gradients; fedrobust.evaluation.attributions) and compares:

    expl_spearman   mean Spearman rank correlation of |attributions| over the device's texts
    expl_top<k>     mean share of the teacher's k most important tokens among the model's k
    expl_n          texts with a Spearman value (at least two tokens, neither side constant)

summary.json's ``explanations`` gives each phase's mean over devices with a bootstrap interval and
the paired per-device change (personalized minus global) with its interval and Wilcoxon p, and
``attribution``, the method compared.
"""

from __future__ import annotations

import hashlib
import math
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from fedrobust.data import FederatedDataset
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation.agreement import compare_attributions
from fedrobust.evaluation.attribution_cache import AttributionCache
from fedrobust.evaluation.attributions import attribute, special_ids
from fedrobust.evaluation.confidence import bootstrap_mean_interval
from fedrobust.evaluation.device_statistics import paired_difference
from fedrobust.models.base import TextClassifier
from fedrobust.models.io import load_model, load_tokenizer

if TYPE_CHECKING:
    from fedrobust.federated.algorithms import ClientCall
    from fedrobust.federated.config import SimulationConfig

TEACHER_ATTRIBUTIONS = "teacher_attributions.npz"
PREFIX = "expl_"
SPEARMAN = "expl_spearman"
COMPARED = "expl_n"


def top_k_column(k: int) -> str:
    return f"{PREFIX}top{k}"


def explanation_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The agreement columns the rows hold, in table order (none when the setting was off)."""
    found = {key for row in rows for key in row if key.startswith(PREFIX)}
    tops = sorted(c for c in found if c not in (SPEARMAN, COMPARED))
    return [c for c in (SPEARMAN, *tops, COMPARED) if c in found]


def agreement_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The agreement columns without the count of compared texts (Spearman, top-k)."""
    return [c for c in explanation_columns(rows) if c != COMPARED]


def evaluated_texts(config: SimulationConfig, dataset: FederatedDataset, devices: Iterable[int]
                    ) -> tuple[list[str], list[int]]:
    """Every text (and gold label) of ``evaluate.split`` on the devices, in device order."""
    texts: list[str] = []
    labels: list[int] = []
    for device in devices:
        t, y = dataset.client(device).split(config.evaluate.split)
        texts += t
        labels += [int(v) for v in y]
    return texts, labels


def _unpadded(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    batch = tokenizer(texts)
    return [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]


def _check_same_tokens(teacher_tokenizer: Any, tokenizer: Any, texts: list[str], config: SimulationConfig) -> None:
    """The comparison is token by token, so the model must read the teacher's tokens."""
    for start in range(0, len(texts), 256):
        chunk = texts[start:start + 256]
        for row, (a, b) in enumerate(zip(_unpadded(teacher_tokenizer, chunk), _unpadded(tokenizer, chunk))):
            if a != b:
                raise ConfigError(
                    f"config key evaluate.explanation_agreement: the teacher {config.teacher} and the model "
                    f"{config.model} split text {start + row} into different tokens (another vocabulary or "
                    "max_length); the student must read the teacher's WordPiece tokens")


def teacher_key(folder: str | Path) -> str:
    """Names one teacher in a shared cache: its resolved folder and its files' sizes and change times,
    so a teacher trained again into the same folder is not mistaken for the old one."""
    root = Path(folder).resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stamp = [str(root)] + [f"{p.relative_to(root)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files]
    return hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]


def _shared_file(shared_dir: Path, config: SimulationConfig, method: str) -> Path:
    return shared_dir / f"{teacher_key(config.teacher)}-{method}.npz"


def _load_shared(path: Path | None, method: str) -> AttributionCache:
    if path is not None and path.is_file():
        try:
            found = AttributionCache.load(path)
            if found.method == method:
                return found
        except DataError as exc:
            print(f"[explanations] {exc}: starting it afresh", flush=True)
    return AttributionCache(method=method)


def prepare_teacher_attributions(config: SimulationConfig, dataset: FederatedDataset, devices: Iterable[int],
                                 tokenizer: Any, run_dir: str | Path, shared_dir: str | Path | None = None
                                 ) -> Path | None:
    """The teacher's attributions of every evaluated text of ``devices`` in the run directory,
    computed unless a file there covers them; None when the setting is off.

    With ``shared_dir`` (`fedrobust run` gives one per stage cache) the teacher's attributions are
    also kept there, per teacher and method, and only texts it has not explained before are
    computed: federations over other seeds or algorithms on the same devices reuse them."""
    if not config.evaluate.explanation_agreement:
        return None
    path = Path(run_dir) / TEACHER_ATTRIBUTIONS
    texts, labels = evaluated_texts(config, dataset, devices)
    method = config.evaluate.attribution
    if path.is_file():
        found = AttributionCache.load(path)
        if found.covers(texts, labels, method):
            return path
        if found.method != method:
            print(f"[explanations] {path} holds {found.method} attributions; evaluate.attribution is {method}: "
                  "computing them again", flush=True)
    _check_same_tokens(load_tokenizer(config.teacher), tokenizer, texts, config)
    shared = _shared_file(Path(shared_dir), config, method) if shared_dir is not None else None
    known = _load_shared(shared, method)
    todo, _ = known.missing(texts, labels)
    t0 = time.perf_counter()
    if todo:
        teacher, teacher_tokenizer = load_model(config.teacher)
        known = known.extended(teacher, teacher_tokenizer, texts, labels)
        if shared is not None:
            known.save(shared)
    known.subset(texts, labels).save(path)
    distinct = len(set(zip(texts, labels)))
    reused = f", {distinct - len(todo)} reused from {shared}" if shared is not None else ""
    print(f"[explanations] the teacher's {method} attributions of {distinct} texts, once for every device: "
          f"{len(todo)} computed{reused} ({time.perf_counter() - t0:.1f} s) -> {path}", flush=True)
    return path


@lru_cache(maxsize=2)
def _cache(path: str, modified_ns: int) -> AttributionCache:
    return AttributionCache.load(Path(path))


def explanation_metrics(call: ClientCall, model: TextClassifier, texts: Sequence[str], labels: Sequence[int]
                        ) -> dict[str, float]:
    """A device's agreement columns for one phase's model; empty when the setting is off."""
    settings = call.config.evaluate
    if not settings.explanation_agreement:
        return {}
    k = settings.top_k
    if not texts:
        return {SPEARMAN: math.nan, top_k_column(k): math.nan, COMPARED: 0}
    path = Path(call.state.run_dir) / TEACHER_ATTRIBUTIONS
    if not path.is_file():
        raise DataError(f"{path} is missing: the server writes the teacher's attributions there before the "
                        "federation (evaluate.explanation_agreement); the run directory must be shared with the devices")
    teacher = _cache(str(path), path.stat().st_mtime_ns).lookup(texts, labels, str(path), method=settings.attribution)
    own = attribute(model, call.tokenizer, texts, labels, method=settings.attribution)
    rows = compare_attributions(own, teacher, special_ids(call.tokenizer), k=k)
    spearman = [r["spearman"] for r in rows if not math.isnan(r["spearman"])]
    overlap = [r[f"top{k}_overlap"] for r in rows if not math.isnan(r[f"top{k}_overlap"])]
    return {SPEARMAN: float(np.mean(spearman)) if spearman else math.nan,
            top_k_column(k): float(np.mean(overlap)) if overlap else math.nan, COMPARED: len(spearman)}


def _values(rows: Sequence[Mapping[str, Any]], column: str) -> list[float]:
    return [float(r[column]) for r in rows if r.get(column) is not None and math.isfinite(float(r[column]))]


def summarize_explanations(by_phase: Mapping[str, Sequence[Mapping[str, Any]]], seed: int = 0) -> dict[str, Any]:
    """Per phase, each agreement column's mean over devices with a bootstrap 95% interval, and the
    paired change per device (personalized minus global); empty when no row has the columns."""
    columns = [c for c in explanation_columns(r for rows in by_phase.values() for r in rows) if c != COMPARED]
    if not columns:
        return {}
    summary: dict[str, Any] = {}
    for phase, rows in by_phase.items():
        summary[phase] = {}
        for column in columns:
            values = _values(rows, column)
            summary[phase][column] = {"devices": len(values), "mean": float(np.mean(values)) if values else math.nan,
                                      "ci95": list(bootstrap_mean_interval(values, seed=seed))}
    before = {r["client_id"]: r for r in by_phase.get("global", [])}
    after = [r for r in by_phase.get("personalized", []) if r["client_id"] in before]
    summary["change"] = {column: paired_difference([float(r[column]) for r in after],
                                                   [float(before[r["client_id"]][column]) for r in after], seed=seed)
                         for column in columns}
    return summary
