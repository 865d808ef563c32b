"""`fedrobust run`: every stage of the study in order, each reused when its inputs are unchanged."""

from __future__ import annotations

import copy
import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import yaml

from fedrobust import __version__
from fedrobust.errors import ConfigError
from fedrobust.files import write_text_atomically
from fedrobust.pipeline.config import RunConfig
from fedrobust.pipeline.headline import headline_summary
from fedrobust.pipeline.lock import run_folder_lock
from fedrobust.pipeline.stages import Stage, StageContext, study_stages
from fedrobust.pipeline.store import SHARED_DIR, StageStore, fingerprint, folder_bytes, portable_paths
from fedrobust.report import build_report
from fedrobust.report.benchmark_tables import benchmark_blocks
from fedrobust.report.seeds import seed_blocks, seed_summary

RUN_RECORD = "run.json"
SUMMARY = "summary.json"
CONFIG_COPY = "config.yaml"
NOT_USED = "not used"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")  # ordering of stages made in one second


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def stage_fingerprints(config: RunConfig, stages: list[Stage]) -> dict[str, str]:
    """Each stage's hash covers its own config keys and its upstream stages' hashes."""
    fingerprints: dict[str, str] = {}
    for stage in stages:
        upstream = {d: fingerprints.get(d, NOT_USED) for d in stage.depends}
        fingerprints[stage.name] = fingerprint(
            {"stage": stage.name, "inputs": stage.inputs(config), "upstream": upstream, "fedrobust": __version__})
    return fingerprints


class StudyRunner:
    def __init__(self, config: RunConfig, run_dir: Path, verbose: bool = False, rerun: Iterable[str] = ()) -> None:
        self.config = config
        self.run_dir = run_dir.resolve()
        self.verbose = verbose
        self.stages = study_stages(config)
        self.rerun = set(rerun)
        unknown = self.rerun - {s.name for s in self.stages}
        if unknown:
            raise ConfigError(f"--rerun {sorted(unknown)[0]}: no such stage in this study; stages: "
                              + ", ".join(s.name for s in self.stages))
        self.store = StageStore(Path(config.stage_cache).resolve() if config.stage_cache else self.run_dir / "stages")
        self.fingerprints = stage_fingerprints(config, self.stages)
        self.records: dict[str, dict[str, Any]] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self.finished_at: dict[str, str] = {}  # when each stage's outputs in use were made

    def run(self) -> dict[str, Any]:
        with run_folder_lock(self.run_dir, "fedrobust run"):
            write_text_atomically(self.run_dir / CONFIG_COPY, yaml.safe_dump(self.config.to_dict(), sort_keys=False))
            print(f"fedrobust run {self.config.name} -> {self.run_dir} ({len(self.stages)} stages)", flush=True)
            if self.config.unseen_attacks() == []:
                print("WARNING: every attack in evaluate.attacks was used in the student's training; add one it "
                      "never saw (e.g. fast_pwws) to test robustness beyond the training attack", flush=True)
            started = time.perf_counter()
            for index, stage in enumerate(self.stages, start=1):
                self._run_stage(index, stage)
            summary = headline_summary(self.config, self.run_dir, self.records, self.status)
            summary["wall_s_this_session"] = round(time.perf_counter() - started, 1)
            write_text_atomically(self.run_dir / SUMMARY, json.dumps(summary, indent=2, default=str) + "\n")
            self._write_report()
            return summary

    def _run_stage(self, index: int, stage: Stage) -> None:
        fp = self.fingerprints[stage.name]
        slot = self.store.slot(stage.name, fp)
        head = f"[{index}/{len(self.stages)}] {stage.name}"
        with slot.lock():  # runs sharing a stage cache compute a stage once
            record = self._reuse_or_run(head, stage, slot)
        self.records[stage.name] = record["result"]
        self.finished_at[stage.name] = record["finished"]
        self._write_run_record()

    def _reuse_or_run(self, head: str, stage: Stage, slot) -> dict[str, Any]:
        fp = slot.fingerprint
        # Same inputs, but an upstream stage was made again (--rerun) after this one started: stale.
        upstream_made = [self.finished_at[d] for d in stage.depends if d in self.finished_at]
        fresh = stage.name in self.rerun  # no reuse, and no resuming from partial outputs
        record = None if fresh else slot.finished()
        if record is not None and any(made > record["started"] for made in upstream_made):
            print(f"{head}: an upstream stage was made again since it ran; running it again", flush=True)
            record, fresh = None, True
        if record is not None:
            print(f"{head}: reused ({fp}, took {_duration(record['seconds'])} on {record['finished'][:16]})", flush=True)
            self.status[stage.name] = {"fingerprint": fp, "dir": str(slot.dir), "reused": True, "seconds": record["seconds"]}
        else:
            estimate = self.store.previous_seconds(stage.name)
            resumed = slot.start(keep_partial=stage.resumable and not fresh)
            note = f", about {_duration(estimate)} going by the last attempt" if estimate else ""
            print(f"{head}: {stage.describe(self.config)}{' (resuming)' if resumed else ''}{note}", flush=True)
            self.status[stage.name] = {"fingerprint": fp, "dir": str(slot.dir), "reused": False, "running": True}
            self._write_run_record()
            t0, began = time.perf_counter(), _now()
            ctx = StageContext(self.config, slot.dir, dict(self.records), resumed=resumed, verbose=self.verbose,
                               shared_dir=self.store.root / SHARED_DIR)
            result = stage.run(ctx)
            seconds = round(time.perf_counter() - t0, 2)
            record = {"stage": stage.name, "started": began, "finished": _now(), "seconds": seconds, "result": result,
                      "upstream": {d: self.fingerprints.get(d, NOT_USED) for d in stage.depends}}
            slot.finish(record)
            print(f"{head}: done in {_duration(seconds)}", flush=True)
            self.status[stage.name] = {"fingerprint": fp, "dir": str(slot.dir), "reused": False, "seconds": seconds}
        return record

    def _write_run_record(self) -> None:
        # paths inside the run folder relative to it, so that a copied folder's report reads its own stages
        record = {"name": self.config.name, "fedrobust": __version__, "updated": _now(),
                  "stages": {name: portable_paths(status, self.run_dir, keys=("dir",)) for name, status in self.status.items()},
                  "results": {name: portable_paths(result, self.run_dir) for name, result in self.records.items()}}
        write_text_atomically(self.run_dir / RUN_RECORD, json.dumps(record, indent=2, default=str) + "\n")

    def _write_report(self) -> None:
        paths = build_report([self.run_dir], self.run_dir / "report", title=self.config.report.title,
                             compare_to=self.config.report.compare_to)
        print(f"report: {paths['markdown']} and {paths['html']}", flush=True)

    def stale_folders(self) -> list[Path]:
        if self.config.stage_cache:  # other runs' stages live there too
            return []
        return self.store.stale(self.fingerprints)

    def prune(self) -> tuple[int, int]:
        stale = self.stale_folders()
        freed = sum(folder_bytes(d) for d in stale)
        for folder in stale:
            shutil.rmtree(folder)
        return len(stale), freed


def run_seeds(config: RunConfig, verbose: bool = False, rerun: Iterable[str] = (), prune: bool = False) -> dict[str, Any]:
    """Every seed's run in RUN_DIR/seed-<s>/ (a shared stage cache: stages that do not depend on the
    varied seed run once), then RUN_DIR/summary.json and report/ with figures as mean ± sd over seeds."""
    key, values = config.seed_list
    out_dir = config.out_dir().resolve()
    with run_folder_lock(out_dir, "fedrobust run"):  # each seed's run locks its own seed-<s>/ too
        seed_dirs: dict[int, Path] = {}
        for value in values:
            print(f"== {key} {value} ({len(seed_dirs) + 1}/{len(values)})", flush=True)
            run = config.for_seed(value)
            run_study(run, verbose=verbose, rerun=rerun, prune=False)
            seed_dirs[value] = Path(run.out).resolve()
        summary = {"name": config.name, "run_dir": str(out_dir), "varied": key,
                   **seed_summary(seed_dirs, config.report.compare_to),
                   "runs": {value: str(folder) for value, folder in seed_dirs.items()},
                   "report": str(out_dir / "report" / "report.md")}
        write_text_atomically(out_dir / SUMMARY, json.dumps(summary, indent=2, default=str) + "\n")
        paths = build_report(list(seed_dirs.values()), out_dir / "report", title=config.report.title,
                             extra=benchmark_blocks(summary, config.report.compare_to) + seed_blocks(summary),
                             compare_within_runs=True, compare_to=config.report.compare_to)
        print(f"report: {paths['markdown']} and {paths['html']}", flush=True)
        return summary


def run_study(config: RunConfig, out: Path | None = None, verbose: bool = False, rerun: Iterable[str] = (),
              prune: bool = False) -> dict[str, Any]:
    """One run, or with ``seeds`` / ``federated_seeds`` one run per seed and their aggregate."""
    if config.seed_list[1]:
        if out is not None:
            config = copy.deepcopy(config)
            config.out = str(out)
        return run_seeds(config, verbose=verbose, rerun=rerun, prune=prune)
    runner = StudyRunner(config, out or config.out_dir(), verbose=verbose, rerun=rerun)
    summary = runner.run()
    stale = runner.stale_folders()
    if prune and stale:
        count, freed = runner.prune()
        print(f"pruned {count} outdated stage folders ({freed / 1e6:.0f} MB)", flush=True)
    elif stale:
        size = sum(folder_bytes(d) for d in stale)
        print(f"{len(stale)} outdated stage folders ({size / 1e6:.0f} MB) kept for reuse; --prune removes them", flush=True)
    return summary
