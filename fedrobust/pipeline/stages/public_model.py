"""Stage `public_model`: the start of the federations with ``init: public``, the student's
architecture trained with plain cross-entropy on the public split (no teacher, no adversarial
objective), so that a table can separate what distillation adds from what the federated algorithm
adds. Only made when a federation asks for it."""

from __future__ import annotations

from typing import Any

from fedrobust.distill.pipeline import STUDENT_DIR, run_distill
from fedrobust.pipeline.config import PLACEHOLDER, RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext

PUBLIC_MODEL = "public_model"


class PublicModelStage(Stage):
    name = PUBLIC_MODEL
    depends = ("data", "teacher")  # the teacher lends its tokenizer and tokenized texts only

    def needed(self, config: RunConfig) -> bool:
        return "public" in config.starts()

    def inputs(self, config: RunConfig) -> Any:
        return config.distill.public_model_config(PLACEHOLDER, PLACEHOLDER, config.seed).to_dict()

    def describe(self, config: RunConfig) -> str:
        return f"{(config.distill.student or {}).get('name', '?')} with ce on the public split's labels"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        config = ctx.config.distill.public_model_config(ctx.output_of("data"), ctx.output_of("teacher"), ctx.config.seed)
        metrics = run_distill(config, ctx.dir)
        student = metrics.get("student", {})
        if "val_natural_acc" in student:
            print(f"  public model: {student['params']:,} params, validation natural accuracy "
                  f"{student['val_natural_acc']:.3f}", flush=True)
        return {"output": str(ctx.dir / STUDENT_DIR), "student": student}
