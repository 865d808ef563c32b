"""What a strategy sees of the search: the candidates evaluated so far and the budget left.

Evaluation goes through the store: a candidate whose result is on disk is not evaluated again.
Strategies are deterministic given their seed and the metrics they receive, so a restarted
search replays the same trajectory from the store and continues with the first new candidate.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from fedrobust.search.space import Candidate, SearchSpace, student_key
from fedrobust.search.store import RESULT_FILE, CandidateStore

log = logging.getLogger(__name__)


class Evaluator(Protocol):
    def __call__(self, student: dict[str, Any], out_dir: Any) -> dict[str, float]:
        """Distil and score one student config; its artifacts go to ``out_dir``."""


@dataclass
class Entry:
    candidate: Candidate | None  # None for a student given as a config (the hand-designed one)
    key: str
    student: dict[str, Any]
    metrics: dict[str, float]
    reused: bool  # read from the store instead of evaluated in this process

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "student": self.student,
            "genes": self.candidate.gene_dict() if self.candidate else None,
            "metrics": self.metrics,
        }


class BudgetExhausted(RuntimeError):
    """A strategy asked for more evaluations than the budget allows (a bug in the strategy)."""


class Archive:
    def __init__(
        self, space: SearchSpace, store: CandidateStore, evaluator: Evaluator, budget: int,
        on_entry: Callable[["Archive"], None] | None = None,
    ) -> None:
        self.space, self.store, self.evaluator, self.budget = space, store, evaluator, budget
        self.entries: list[Entry] = []
        self.on_entry = on_entry
        self.evaluated_now = 0  # evaluations run by this process (not read back from the store)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.entries)

    def seen(self, candidate: Candidate) -> bool:
        key = self.space.key(candidate)
        return any(e.key == key for e in self.entries)

    def measure(self, student: dict[str, Any], candidate: Candidate | None = None) -> Entry:
        """The stored result of ``student``, or a fresh evaluation that is stored before returning."""
        key = student_key(student)
        record = self._stored(key)
        if record is not None:
            return Entry(candidate, key, student, record["metrics"], reused=True)
        log.info("evaluating candidate %s: %s", key, student)
        started = time.perf_counter()
        metrics = dict(self.evaluator(student, self.store.dir_for(key)))
        metrics.setdefault("search_seconds", time.perf_counter() - started)
        self.evaluated_now += 1
        entry = Entry(candidate, key, student, metrics, reused=False)
        self.store.save(key, entry.to_dict())
        return entry

    def _stored(self, key: str) -> dict[str, Any] | None:
        """The stored result of a candidate; a damaged one counts as an interrupted evaluation."""
        try:
            record = self.store.load(key)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            record, problem = None, f"not readable JSON ({exc})"
        else:
            complete = record is None or isinstance(record, dict) and isinstance(record.get("metrics"), dict)
            problem = None if complete else "it holds no metrics object"
        if problem:
            log.warning("%s is damaged: %s; evaluating candidate %s again", self.store.dir_for(key) / RESULT_FILE,
                        problem, key)
            return None
        return record

    def evaluate(self, candidates: list[Candidate]) -> list[dict[str, float]]:
        """Metrics of each candidate, in order; each counts once against the budget."""
        if len(candidates) > self.remaining:
            raise BudgetExhausted(f"{len(candidates)} candidates asked, {self.remaining} left in the budget")
        results = []
        for candidate in candidates:
            if self.seen(candidate):
                raise ValueError(f"candidate {self.space.key(candidate)} was already evaluated in this search")
            entry = self.measure(self.space.student_config(candidate), candidate)
            self.entries.append(entry)
            if self.on_entry:
                self.on_entry(self)
            results.append(entry.metrics)
        return results
