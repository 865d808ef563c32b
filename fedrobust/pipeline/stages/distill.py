"""Stage `distill`: the robust compact student (`fedrobust distill`), or the user's own student."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedrobust.distill.pipeline import run_distill
from fedrobust.errors import ConfigError
from fedrobust.pipeline.config import PLACEHOLDER, RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext
from fedrobust.pipeline.stages.provided import provided_folder, provided_inputs


def student_folder(folder: Path) -> Path:
    """Accept a model folder or a `fedrobust distill --out` folder holding student/."""
    for candidate in (folder, folder / "student"):
        if (candidate / "model.json").is_file():
            return candidate
    raise ConfigError(f"config key distill.path: {folder} holds no model.json (nor student/model.json); "
                      "point it at a folder written by `fedrobust distill`")


class DistillStage(Stage):
    name = "distill"
    depends = ("data", "teacher")

    def inputs(self, config: RunConfig) -> Any:
        if config.distill.path:
            return provided_inputs("distill", config.distill.path)
        return config.distill_config(PLACEHOLDER, PLACEHOLDER).to_dict()

    def describe(self, config: RunConfig) -> str:
        section = config.distill
        if section.path:
            return f"your student {section.path}"
        student = (section.student or {}).get("name", "?")
        return f"{student} with {'+'.join(section.objectives)}"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        path = ctx.config.distill.path
        if path:
            folder = student_folder(provided_folder("distill", path))
            metrics_path = folder.parent / "metrics.json"
            metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        else:
            metrics = run_distill(ctx.config.distill_config(ctx.output_of("data"), ctx.output_of("teacher")), ctx.dir)
            folder = ctx.dir / "student"
        student = metrics.get("student", {})
        if student:
            # validation texts (the evaluate stage measures test); older students' metrics lack them
            validation = student.get("val_natural_acc")
            accuracy = f"validation natural accuracy {validation:.3f}, " if validation is not None else ""
            print(f"  student: {student['params']:,} params ({metrics.get('param_ratio', float('nan')):.3f} of the teacher), "
                  f"{accuracy}{student['latency_ms']:.2f} ms/text", flush=True)
        return {"output": str(folder), "student": student, "param_ratio": metrics.get("param_ratio")}
