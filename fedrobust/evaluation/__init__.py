"""The evaluator: natural accuracy, accuracy under attack (per example, per client) with
confidence intervals, and explanation agreement between two models; every stage measures
through it, under the names of fedrobust.evaluation.metrics."""

from fedrobust.evaluation.agreement import explanation_agreement, spearman, top_k_overlap
from fedrobust.evaluation.attack_eval import ClientAttackRecord, evaluate_attack, evaluate_clients, evaluate_threats
from fedrobust.evaluation.attack_summary import summarize_attack
from fedrobust.evaluation.attributions import (
    ATTRIBUTIONS,
    TokenAttributions,
    attribute,
    grad_x_input,
    integrated_gradients,
)
from fedrobust.evaluation.config import AttackEvalConfig, DeviceAttackEvalConfig, ThreatModel
from fedrobust.evaluation.confidence import bootstrap_mean_interval, wilson_interval
from fedrobust.evaluation.measure import (
    accuracy,
    attack_metrics,
    measure,
    natural_metrics,
    predict,
    predict_logits,
)
from fedrobust.evaluation.metrics import RENAMED_METRICS, with_current_names
from fedrobust.evaluation.sampling import sample_indices
from fedrobust.evaluation.writing import write_records_csv, write_summary_json

__all__ = [
    "ATTRIBUTIONS",
    "attribute",
    "integrated_gradients",
    "AttackEvalConfig",
    "DeviceAttackEvalConfig",
    "ThreatModel",
    "accuracy",
    "attack_metrics",
    "measure",
    "natural_metrics",
    "predict",
    "predict_logits",
    "RENAMED_METRICS",
    "with_current_names",
    "ClientAttackRecord",
    "TokenAttributions",
    "bootstrap_mean_interval",
    "evaluate_attack",
    "evaluate_threats",
    "evaluate_clients",
    "explanation_agreement",
    "grad_x_input",
    "sample_indices",
    "spearman",
    "summarize_attack",
    "top_k_overlap",
    "wilson_interval",
    "write_records_csv",
    "write_summary_json",
]
