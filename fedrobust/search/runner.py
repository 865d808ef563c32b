"""`fedrobust search`: run a strategy over the space, then write the candidates, the Pareto front,
its plot and (optionally) the exported student.

    OUT/search_config.yaml   the resolved config; a restart must evaluate candidates the same way
    OUT/candidates/<key>/    one folder per evaluated student (see fedrobust.search.store; config key
                             `store` puts them in a folder several searches share)
    OUT/candidates.json      every evaluation of this search in evaluation order (a multi-fidelity
                             search: every rung), with its budget, metrics and their 95% half-widths
    OUT/pareto.json          the objectives, the front (of the candidates within `feasible`, at the
                             last rung's budget) and the hand-designed reference at that budget,
                             all scored on validation texts
    OUT/pareto.png           the front (fedrobust.search.plot)

A search reads no test text. Its selection is scored on the test split afterwards, as a separate
final-evaluation phase: `fedrobust search-test OUT` (fedrobust.search.holdout.final_test), or
re-trained at the full distill budget over seeds and judged: `fedrobust search-final OUT`
(fedrobust.search.final). Evaluations run on config key `execution`'s backend (fedrobust.search.execution).
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
from fedrobust.search.execution import Executor, make_executor
from fedrobust.search.export import choose, export_student
from fedrobust.search.fidelity import Fidelity
from fedrobust.search.intervals import SAMPLE_SIZE_OF, check_planned
from fedrobust.search.pareto import Objective, dominates, feasible_front, violation
from fedrobust.search.plot import plot_fronts
from fedrobust.search.store import CONFIG_FILE, CandidateStore, write_json_atomic

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    entries: list[Entry]
    front: list[dict[str, Any]]
    reference: dict[str, Any] | None
    evaluated_now: int  # evaluations run by this call (the rest came from the store)
    exported: Path | None
    front_fidelity: Fidelity | None = None  # the budget the front was trained at


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


def _write_search_config(config: SearchConfig, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {**config.to_dict(), "evaluation_fingerprint": config.evaluation_fingerprint()}
    (out_dir / CONFIG_FILE).write_text(yaml.safe_dump(payload, sort_keys=False))


def _write_candidates(archive: Archive, out_dir: Path) -> None:
    write_json_atomic(out_dir / "candidates.json", [e.to_dict() for e in archive.entries])


def default_evaluator(config: SearchConfig) -> Evaluator:
    return DistillEvaluator(config.distill_mapping, config.evaluation)


def candidate_store(config: SearchConfig, out_dir: Path) -> CandidateStore:
    """OUT's own store, or the shared one of config key `store` (checked against this setting)."""
    if config.store is None:
        return CandidateStore(out_dir)
    store = CandidateStore(config.store)
    store.claim(config.evaluation_fingerprint())
    return store


def selected_metrics(config: SearchConfig) -> list[str]:
    """The accuracies the search selects on (objectives and feasibility bounds)."""
    names = [o["metric"] for o in config.objectives] + list(config.feasible)
    return [m for m in dict.fromkeys(names) if m in SAMPLE_SIZE_OF]


def wider_than(entries: list[dict[str, Any]], metrics: list[str], max_interval: float) -> list[str]:
    return [e["key"] for e in entries
            if any((e["interval_half_width"].get(m) or 0.0) > max_interval for m in metrics)]


def run_search(
    config: SearchConfig, out_dir: str | Path, evaluator: Evaluator | None = None, executor: Executor | None = None,
) -> SearchResult:
    out_dir = Path(out_dir)
    _check_resumable(config, out_dir)  # a damaged or different earlier search in OUT: before reading any data
    evaluator = evaluator or default_evaluator(config)
    sizes = evaluator.validation_sizes() if hasattr(evaluator, "validation_sizes") else None
    planned = check_planned(sizes, selected_metrics(config), config.selection) if sizes else None  # before any write
    _write_search_config(config, out_dir)
    space, objectives, bounds = config.search_space(), config.objective_list(), config.bounds()
    store, full, strategy = candidate_store(config, out_dir), config.full_fidelity(), config.build_strategy()
    front_fidelity = strategy.front_fidelity(full) if hasattr(strategy, "front_fidelity") else full
    owned = executor is None  # an executor the caller passed stays open for it
    executor = executor or make_executor(config.execution, config.threads)
    try:
        archive = Archive(space, store, evaluator, config.candidates, on_entry=lambda a: _write_candidates(a, out_dir),
                          executor=executor, full=full, required=[o.metric for o in objectives] + [b.metric for b in bounds])
        log.info("search %s: %d evaluations over %d distinct students on %s", config.strategy.name, config.candidates,
                 space.size(), config.execution.backend)
        strategy.run(space, archive, objectives, bounds, random.Random(config.seed))
        _write_candidates(archive, out_dir)
        reference = archive.measure(config.distill_mapping["student"], fidelity=front_fidelity).to_dict() \
            if config.reference else None
    finally:
        if owned:
            executor.close()

    entries = [e.to_dict() for e in archive.entries if e.fidelity == front_fidelity]
    wide = wider_than(entries, selected_metrics(config), config.selection.max_interval)
    if wide:
        log.warning("WIDE VALIDATION INTERVALS: %d candidates at the front's budget have a 95%% half-width above "
                    "selection.max_interval=%g on a selected accuracy (candidates.json: interval_half_width)",
                    len(wide), config.selection.max_interval)
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
        "evaluations": len(archive.entries),
        "front_fidelity": front_fidelity.to_dict(),
        "rungs": strategy.plan(full, config.candidates) if hasattr(strategy, "plan") else None,
        "validation_sizes": sizes,
        "planned_half_width": planned,
        "wider_than_max_interval": wide,  # measured: keys whose selected accuracies are less precise than planned
        "feasible": config.feasible_limits(),
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
    return SearchResult(archive.entries, front, reference, archive.evaluated_now, exported, front_fidelity)


def _dominating(reference: dict[str, Any], entries: list[dict[str, Any]], objectives: list[Objective]) -> list[str]:
    return [e["key"] for e in entries if dominates(e["metrics"], reference["metrics"], objectives)]
