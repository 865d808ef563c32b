"""Pick a student from the Pareto front and copy its folder where `fedrobust simulate` can use it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

from fedrobust.errors import ConfigError
from fedrobust.search.config import METRIC_GOALS, ExportSection, bounds_of
from fedrobust.search.pareto import violation


def choose(front: Sequence[dict[str, Any]], section: ExportSection) -> dict[str, Any]:
    """``section.candidate`` if given, else the front member best on ``prefer`` among those within
    every ``at_least`` bound (a floor for accuracies, a ceiling for params, bytes and latency)."""
    if section.candidate is not None:
        for entry in front:
            if entry["key"] == section.candidate:
                return entry
        raise ConfigError(f"export.candidate {section.candidate!r} is not on the Pareto front; see pareto.json")
    bounds = bounds_of(section.at_least)
    eligible = [e for e in front if violation(e["metrics"], bounds) == 0]
    if not eligible:
        raise ConfigError(f"no Pareto-front candidate meets export.at_least {section.at_least}; relax the bounds")
    sign = -1.0 if METRIC_GOALS[section.prefer] == "min" else 1.0
    return max(eligible, key=lambda e: (sign * e["metrics"][section.prefer], e["key"]))


def export_student(entry: dict[str, Any], candidate_dir: Path, to: str | Path) -> Path:
    """Copy the candidate's `student/` folder to ``to`` (replacing it) with a note of where it came from."""
    source = candidate_dir / "student"
    if not (source / "model.json").is_file():
        raise ConfigError(f"candidate {entry['key']} has no student folder at {source}; rerun the search")
    target = Path(to)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    (target / "search_candidate.json").write_text(json.dumps(entry, indent=2))
    return target
