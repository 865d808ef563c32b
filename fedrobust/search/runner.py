"""`fedrobust search`: run a strategy over the space, then write the candidates, the Pareto front,
its plot and (optionally) the exported student.

    OUT/search_config.yaml   the resolved config; a restart must evaluate candidates the same way
    OUT/candidates/<key>/    one folder per evaluated student (see fedrobust.search.store)
    OUT/candidates.json      every candidate of this search in evaluation order, with its metrics
    OUT/pareto.json          the objectives, the front (of the candidates within `feasible`) and the
                             hand-designed reference, all scored on validation texts
    OUT/pareto.png           the front (fedrobust.search.plot)

A search reads no test text. Its selection is scored on the test split afterwards, as a separate
final-evaluation phase: `fedrobust search-test OUT` (fedrobust.search.holdout.final_test).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fedrobust.errors import ConfigError
from fedrobust.search.archive import Archive, Entry, Evaluator
from fedrobust.search.config import SearchConfig  # (importing it registers the strategies)
from fedrobust.search.evaluator import DistillEvaluator
from fedrobust.search.export import choose, export_student
from fedrobust.search.pareto import Objective, dominates, feasible_front, violation
from fedrobust.search.plot import plot_fronts
from fedrobust.search.store import CONFIG_FILE, CandidateStore, write_json_atomic
from fedrobust.search.strategy import SEARCH_STRATEGIES

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    entries: list[Entry]
    front: list[dict[str, Any]]
    reference: dict[str, Any] | None
    evaluated_now: int  # evaluations run by this call (the rest came from the store)
    exported: Path | None


def _stored_config(path: Path) -> dict[str, Any]:
    fix = f"use a new --out, or delete {path.parent} to start the search over"
    try:
        stored = yaml.safe_load(path.read_text()) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).replace("\n", " ")
        raise ConfigError(f"{path} is damaged: not readable YAML ({reason}); {fix}") from None
    if not isinstance(stored, dict):
        raise ConfigError(f"{path} is damaged: a {type(stored).__name__}, not a mapping; {fix}")
    if "evaluation_fingerprint" not in stored:
        raise ConfigError(f"{path} is damaged: field evaluation_fingerprint is missing; {fix}")
    return stored


def _check_resumable(config: SearchConfig, out_dir: Path) -> None:
    path = out_dir / CONFIG_FILE
    if path.is_file():
        stored = _stored_config(path)
        if stored["evaluation_fingerprint"] != config.evaluation_fingerprint():
            raise ConfigError(
                f"{out_dir} holds candidates scored with another distill/evaluation setting ({path}); "
                "use a new --out, or restore that setting to resume"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {**config.to_dict(), "evaluation_fingerprint": config.evaluation_fingerprint()}
    path.write_text(yaml.safe_dump(payload, sort_keys=False))


def _write_candidates(archive: Archive, out_dir: Path) -> None:
    write_json_atomic(out_dir / "candidates.json", [e.to_dict() for e in archive.entries])


def default_evaluator(config: SearchConfig) -> Evaluator:
    return DistillEvaluator(config.distill_mapping, config.evaluation)


def run_search(config: SearchConfig, out_dir: str | Path, evaluator: Evaluator | None = None) -> SearchResult:
    out_dir = Path(out_dir)
    _check_resumable(config, out_dir)
    evaluator = evaluator or default_evaluator(config)
    space, objectives, bounds = config.search_space(), config.objective_list(), config.bounds()
    store = CandidateStore(out_dir)
    archive = Archive(space, store, evaluator, config.candidates, on_entry=lambda a: _write_candidates(a, out_dir))
    strategy = SEARCH_STRATEGIES.get(config.strategy.name)(**config.strategy.options)
    log.info("search %s: %d candidates over %d distinct students", config.strategy.name, config.candidates, space.size())
    strategy.run(space, archive, objectives, bounds, random.Random(config.seed))
    _write_candidates(archive, out_dir)

    reference = archive.measure(config.distill_mapping["student"]).to_dict() if config.reference else None
    entries = [e.to_dict() for e in archive.entries]
    front = [entries[i] for i in feasible_front([e["metrics"] for e in entries], objectives, bounds)]
    exported = None
    if config.export.to:
        chosen = choose(front, config.export)
        exported = export_student(chosen, store.dir_for(chosen["key"]), config.export.to)
        log.info("exported candidate %s to %s", chosen["key"], exported)
    write_json_atomic(out_dir / "pareto.json", {
        "objectives": config.objectives,
        "strategy": config.strategy.name,
        "candidates": len(entries),
        "feasible": config.feasible,
        "out_of_bounds": [e["key"] for e in entries if violation(e["metrics"], bounds) > 0],
        "front": front,
        "reference": reference,
        "reference_dominated_by": _dominating(reference, entries, objectives) if reference else [],
        "exported": {"to": str(exported), "key": chosen["key"]} if exported else None,
    })
    plot_fronts(
        {config.strategy.name: ([e["metrics"] for e in entries], [e["metrics"] for e in front])},
        reference["metrics"] if reference else None, out_dir / "pareto.png",
        title=f"{config.strategy.name}, {len(entries)} candidates",
    )
    return SearchResult(archive.entries, front, reference, archive.evaluated_now, exported)


def _dominating(reference: dict[str, Any], entries: list[dict[str, Any]], objectives: list[Objective]) -> list[str]:
    return [e["key"] for e in entries if dominates(e["metrics"], reference["metrics"], objectives)]

