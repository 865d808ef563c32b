"""`fedrobust run`: the whole study (data, teacher, student, attack evaluation, federation, report)."""

from fedrobust.pipeline.config import RunConfig, load_run_config
from fedrobust.pipeline.runner import run_study

__all__ = ["RunConfig", "load_run_config", "run_study"]
