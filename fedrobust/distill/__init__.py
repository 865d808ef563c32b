"""Robust explainable distillation of a compact student from the fine-tuned teacher."""

from fedrobust.distill.config import DistillConfig, config_from_mapping, load_config
from fedrobust.distill.losses import OBJECTIVES
from fedrobust.distill.pipeline import run_distill

__all__ = ["OBJECTIVES", "DistillConfig", "config_from_mapping", "load_config", "run_distill"]
