"""The run's summary.json: the headline numbers of every stage in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedrobust.evaluation.device_summary import compare_rows
from fedrobust.evaluation.metrics import NATURAL_ACC
from fedrobust.pipeline.config import RunConfig
from fedrobust.report.collect import CLIENTS_CSV, read_table
from fedrobust.report.pairs import comparison_pairs
from fedrobust.pipeline.stages import STAGE_PREFIX

# the distill stage's measurements are on validation texts (val_*); the student's natural_acc is the
# evaluate stage's, on the public test split
STUDENT_KEYS = ("name", "params", "bytes_fp32", "bytes_int8", "bytes_packed", "val_natural_acc", "val_natural_acc_int8",
                "latency_ms")  # bytes_packed: an ATMC student's weights file (compression.method: atmc)


def headline_summary(config: RunConfig, run_dir: Path, records: dict[str, dict[str, Any]],
                     status: dict[str, dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"name": config.name, "run_dir": str(run_dir), "seed": config.seed}
    if "data" in records:
        summary["data"] = {k: records["data"][k] for k in ("output", "clients", "public_train", "public_test")}
    if records.get("teacher", {}).get("teacher"):
        teacher = records["teacher"]["teacher"]
        summary["teacher"] = {k: teacher.get(k) for k in ("params", "natural_acc", "latency_ms", "bytes_fp32")}
    if "distill" in records:
        student = records["distill"].get("student", {})
        summary["student"] = {k: student[k] for k in STUDENT_KEYS if k in student}
        summary["student"]["param_ratio"] = records["distill"].get("param_ratio")
        summary["student"]["output"] = records["distill"]["output"]
        tested = (records.get("evaluate") or {}).get("student") or {}
        if NATURAL_ACC in tested:
            summary["student"][NATURAL_ACC] = tested[NATURAL_ACC]
    if "evaluate" in records:
        summary["attack"] = {k: v for k, v in records["evaluate"].items() if k != "output"}
    summary["threat_models"] = {"attacks": [t.describe() for t in config.evaluate.attacks],
                                "used_in_training": sorted(config.training_attacks() or []),
                                "never_used_in_training": config.unseen_attacks()}
    federated = {name[len(STAGE_PREFIX):]: result for name, result in records.items() if name.startswith(STAGE_PREFIX)}
    if federated:
        summary["federated"] = {algorithm: {k: v for k, v in result.items() if k not in ("algorithm",)}
                                for algorithm, result in federated.items()}
        if len(federated) > 1:
            summary["comparisons"] = paired_comparisons(federated, config.report.compare_to)
    summary["stages"] = status
    summary["report"] = str(run_dir / "report" / "report.md")
    return summary


def paired_comparisons(federated: dict[str, dict[str, Any]], compare_to: str | None = None) -> dict[str, Any]:
    """The compared pairs of federations (fedrobust.report.pairs), per phase: paired per-device
    differences (first minus second) of natural accuracy and of accuracy under each threat
    (fedrobust.evaluation.device_summary)."""
    rows = {name: read_table(Path(result["output"]) / CLIENTS_CSV) for name, result in federated.items()
            if (Path(result["output"]) / CLIENTS_CSV).is_file()}
    comparisons: dict[str, Any] = {}
    for a, b in comparison_pairs(list(rows), compare_to):
        comparisons[f"{a} - {b}"] = {
            phase: compare_rows([r for r in rows[a] if r["phase"] == phase], [r for r in rows[b] if r["phase"] == phase])
            for phase in ("global", "personalized")}
    return comparisons
