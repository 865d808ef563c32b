"""The stages of `fedrobust run`, in order."""

from __future__ import annotations

from fedrobust.pipeline.config import RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext
from fedrobust.pipeline.stages.data import DataStage
from fedrobust.pipeline.stages.distill import DistillStage
from fedrobust.pipeline.stages.evaluate import EvaluateStage
from fedrobust.pipeline.stages.federated import STAGE_PREFIX, FederatedStage
from fedrobust.pipeline.stages.public_model import PublicModelStage
from fedrobust.pipeline.stages.teacher import TeacherStage


def study_stages(config: RunConfig) -> list[Stage]:
    stages: list[Stage] = [DataStage(), TeacherStage(), DistillStage(), EvaluateStage(), PublicModelStage()]
    federated = config.federated
    explain = federated.evaluate.explanation_agreement
    stages += [FederatedStage(entry, federated.init, federated.server_optimizer, explain) for entry in config.algorithms]
    return [s for s in stages if s.needed(config)]


__all__ = ["STAGE_PREFIX", "Stage", "StageContext", "study_stages"]
