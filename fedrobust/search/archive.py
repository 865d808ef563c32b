"""What a strategy sees of the search: the candidates evaluated so far and the budget left.

Evaluation goes through the store: a candidate whose result is on disk (at the asked budget, see
fedrobust.search.fidelity) is not evaluated again. The others of a batch run on the executor
(fedrobust.search.execution), in parallel where it allows; the batch's entries are committed in the
order they were proposed, each as soon as it and those before it are done, and the strategy sees
the batch only once all of it is done. Strategies are deterministic given their seed and the
metrics they receive, so a restarted search replays the same trajectory from the store and
continues with the first new candidate, whatever the parallelism or the order trials finished in.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol, Sequence

from fedrobust.search.execution import Executor, LocalExecutor, Trial, worker_local
from fedrobust.search.fidelity import Fidelity, fidelity_key
from fedrobust.search.intervals import measured_half_widths
from fedrobust.search.space import Candidate, SearchSpace
from fedrobust.search.store import RESULT_FILE, CandidateStore

log = logging.getLogger(__name__)


class Evaluator(Protocol):
    def __call__(self, student: dict[str, Any], out_dir: Any) -> dict[str, float]:
        """Distil and score one student config at the full budget; its artifacts go to ``out_dir``.
        A multi-fidelity search also calls it with ``fidelity=Fidelity(...)`` (a reduced budget)."""


def evaluate_candidate(
    evaluator: Evaluator, token: str | None, student: dict[str, Any], fidelity: Fidelity | None, out_dir: Any,
) -> dict[str, float]:
    """One evaluation trial (run by an executor, maybe in a Ray worker that keeps the evaluator)."""
    if token is not None:
        evaluator = worker_local(token, evaluator)
    started = time.perf_counter()
    metrics = evaluator(student, out_dir) if fidelity is None else evaluator(student, out_dir, fidelity=fidelity)
    metrics = dict(metrics)
    metrics.setdefault("search_seconds", time.perf_counter() - started)
    return metrics


@dataclass
class Entry:
    candidate: Candidate | None  # None for a student given as a config (the hand-designed one)
    key: str
    student: dict[str, Any]
    metrics: dict[str, float]
    reused: bool  # read from the store instead of evaluated in this process
    fidelity: Fidelity | None = None  # the budget it was trained at
    rung: int | None = None  # its rung in a multi-fidelity search

    def to_dict(self) -> dict[str, Any]:
        record = {
            "key": self.key,
            "student": self.student,
            "genes": self.candidate.gene_dict() if self.candidate else None,
            "metrics": self.metrics,
            "interval_half_width": measured_half_widths(self.metrics),
        }
        if self.fidelity is not None:
            record["fidelity"] = self.fidelity.to_dict()
        if self.rung is not None:
            record["rung"] = self.rung
        return record


class BudgetExhausted(RuntimeError):
    """A strategy asked for more evaluations than the budget allows (a bug in the strategy)."""


class Archive:
    def __init__(
        self, space: SearchSpace, store: CandidateStore, evaluator: Evaluator, budget: int,
        on_entry: Callable[["Archive"], None] | None = None, executor: Executor | None = None,
        full: Fidelity | None = None, required: Sequence[str] = (),
    ) -> None:
        self.space, self.store, self.evaluator, self.budget = space, store, evaluator, budget
        self.required = tuple(required)  # metrics a stored result must have to be read back (else: evaluated again)
        self.entries: list[Entry] = []
        self.on_entry = on_entry
        self.executor = executor or LocalExecutor(threads=1)
        self.full = full or Fidelity(1)
        # a Ray worker keeps the evaluator (its loaded data) across this search's trials
        self._token = None if isinstance(self.executor, LocalExecutor) else uuid.uuid4().hex
        self.evaluated_now = 0  # evaluations run by this process (not read back from the store)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.entries)

    def key(self, student: dict[str, Any], fidelity: Fidelity | None = None) -> str:
        return fidelity_key(student, fidelity, self.full)

    def seen(self, candidate: Candidate, fidelity: Fidelity | None = None) -> bool:
        key = self.key(self.space.student_config(candidate), fidelity)
        return any(e.key == key for e in self.entries)

    def measure(self, student: dict[str, Any], candidate: Candidate | None = None,
                fidelity: Fidelity | None = None) -> Entry:
        """The stored result of ``student``, or a fresh evaluation that is stored before returning."""
        return next(entry for _, entry in self._results([(student, candidate)], fidelity))

    def _results(self, jobs: list[tuple[dict[str, Any], Candidate | None]], fidelity: Fidelity | None
                 ) -> Iterator[tuple[int, Entry]]:
        """(index, entry) of every job: the stored ones first, then the others as they finish."""
        fidelity = None if fidelity == self.full else fidelity  # the evaluator's own budget
        keys = [self.key(student, fidelity) for student, _ in jobs]
        resolved = fidelity or self.full
        fresh = []
        for i, ((student, candidate), key) in enumerate(zip(jobs, keys)):
            record = self._stored(key)
            if record is None:
                fresh.append(i)
            else:
                yield i, Entry(candidate, key, student, record["metrics"], True, resolved)
        trials = [Trial(evaluate_candidate, (self.evaluator, self._token, jobs[i][0], fidelity),
                        self.store.dir_for(keys[i])) for i in fresh]
        for i in fresh:
            log.info("evaluating candidate %s (%s): %s", keys[i], resolved.suffix(), jobs[i][0])
        for n, metrics in self.executor.map(trials):
            i = fresh[n]
            entry = Entry(jobs[i][1], keys[i], jobs[i][0], metrics, False, resolved)
            self.evaluated_now += 1
            self.store.save(keys[i], entry.to_dict())
            yield i, entry

    def _stored(self, key: str) -> dict[str, Any] | None:
        """The stored result of a candidate; a damaged one counts as an interrupted evaluation, and
        one measured without a metric this search selects on (an older evaluator) is measured again."""
        try:
            record = self.store.load(key)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            record, problem = None, f"is damaged: not readable JSON ({exc})"
        else:
            complete = record is None or isinstance(record, dict) and isinstance(record.get("metrics"), dict)
            problem = None if complete else "is damaged: it holds no metrics object"
            if complete and record is not None:
                lacking = [m for m in self.required if m not in record["metrics"]]
                if lacking:
                    problem = f"was measured without {', '.join(lacking)}, which this search selects on"
        if problem:
            log.warning("%s %s; evaluating candidate %s again", self.store.dir_for(key) / RESULT_FILE, problem, key)
            return None
        return record

    def evaluate(self, candidates: list[Candidate], fidelity: Fidelity | None = None,
                 rung: int | None = None) -> list[dict[str, float]]:
        """Metrics of each candidate at ``fidelity`` (None: the full budget), in order; each counts once
        against the budget."""
        if len(candidates) > self.remaining:
            raise BudgetExhausted(f"{len(candidates)} candidates asked, {self.remaining} left in the budget")
        keys = [self.key(self.space.student_config(c), fidelity) for c in candidates]
        for candidate, key in zip(candidates, keys):
            if any(e.key == key for e in self.entries) or keys.count(key) > 1:
                raise ValueError(f"candidate {key} was already evaluated in this search")
        jobs = [(self.space.student_config(c), c) for c in candidates]
        start, done = len(self.entries), {}
        for i, entry in self._results(jobs, fidelity):
            entry.rung = rung
            done[i] = entry
            while len(self.entries) - start in done:  # commit in proposal order
                self.entries.append(done[len(self.entries) - start])
                if self.on_entry:
                    self.on_entry(self)
        return [done[i].metrics for i in range(len(candidates))]
