"""Stage `teacher`: fine-tune the teacher on the public split (`fedrobust teacher`), or use the user's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedrobust.distill.teacher_pipeline import run_teacher
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION
from fedrobust.pipeline.config import RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext
from fedrobust.pipeline.stages.provided import provided_folder, provided_inputs

# 2: the cache holds the contextual token table; 3: the classifier head is drawn from the seed
# (before, from the process's RNG state). Older teacher folders are not reused.
CACHE_FORMAT = 3


def teacher_needed(config: RunConfig) -> bool:
    return (config.distill.path is None or "teacher" in config.evaluate.models
            or config.evaluate.explanation_agreement or config.federated.evaluate.explanation_agreement)


class TeacherStage(Stage):
    name = "teacher"
    depends = ("data",)

    def needed(self, config: RunConfig) -> bool:
        return teacher_needed(config)

    def inputs(self, config: RunConfig) -> Any:
        if config.teacher.path:
            return provided_inputs("teacher", config.teacher.path)
        inputs = {**config.teacher_config().to_dict(), "cache_format": CACHE_FORMAT}
        if inputs["attribution"] == DEFAULT_ATTRIBUTION:  # the default: teachers from before the key keep their fingerprint
            del inputs["attribution"], inputs["attribution_steps"]
        return inputs

    def describe(self, config: RunConfig) -> str:
        t = config.teacher
        return f"your teacher {t.path}" if t.path else f"{t.model}, {t.epochs} epochs"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        section = ctx.config.teacher
        if section.path:
            folder = provided_folder("teacher", section.path)
            metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        else:
            folder = ctx.dir
            metrics = run_teacher(ctx.output_of("data"), folder, ctx.config.teacher_config())
        teacher = metrics.get("teacher", {})
        if teacher:
            print(f"  teacher: {teacher['params']:,} params, natural accuracy {teacher['natural_acc']:.3f}", flush=True)
        return {"output": str(folder), "model": str(Path(folder) / "model"), "teacher": teacher}
