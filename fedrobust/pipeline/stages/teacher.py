"""Stage `teacher`: fine-tune the teacher on the public split (`fedrobust teacher`), or use the user's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedrobust.pipeline.config import RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext
from fedrobust.pipeline.stages.provided import provided_folder, provided_inputs

TEACHER_FIELDS = ("model", "epochs", "batch_size", "lr", "max_length", "max_train_examples", "mask_top_k",
                  "augment_copies", "transfer", "transfer_max_texts", "latency_examples")


def teacher_options(config: RunConfig) -> Any:
    """The teacher section as `fedrobust teacher` options."""
    from fedrobust.distill.teacher_pipeline import TeacherOptions

    return TeacherOptions(**{k: getattr(config.teacher, k) for k in TEACHER_FIELDS}, seed=config.seed)


def teacher_needed(config: RunConfig) -> bool:
    return (config.distill.get("path") is None or "teacher" in config.evaluate.models
            or config.evaluate.explanation_agreement)


class TeacherStage(Stage):
    name = "teacher"
    depends = ("data",)

    def needed(self, config: RunConfig) -> bool:
        return teacher_needed(config)

    def inputs(self, config: RunConfig) -> Any:
        if config.teacher.path:
            return provided_inputs("teacher", config.teacher.path)
        # cache_format 2 added the contextual token table: older teacher folders are not reused
        return {**{k: getattr(config.teacher, k) for k in TEACHER_FIELDS}, "seed": config.seed, "cache_format": 2}

    def describe(self, config: RunConfig) -> str:
        t = config.teacher
        return f"your teacher {t.path}" if t.path else f"{t.model}, {t.epochs} epochs"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from fedrobust.distill.teacher_pipeline import run_teacher

        section = ctx.config.teacher
        if section.path:
            folder = provided_folder("teacher", section.path)
            metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        else:
            folder = ctx.dir
            metrics = run_teacher(ctx.output_of("data"), folder, teacher_options(ctx.config))
        teacher = metrics.get("teacher", {})
        if teacher:
            print(f"  teacher: {teacher['params']:,} params, natural accuracy {teacher['natural_acc']:.3f}", flush=True)
        return {"output": str(folder), "model": str(Path(folder) / "model"), "teacher": teacher}
