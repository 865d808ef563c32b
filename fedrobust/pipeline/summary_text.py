"""The few lines `fedrobust run` prints at the end."""

from __future__ import annotations

from typing import Any

from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, NATURAL_ACC


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def _under_attack(attack: dict[str, Any], model: str) -> str:
    """The evaluate stage's accuracy under attack of one model, when it was evaluated."""
    return f"  under {attack['attack']} {_f(attack[model][ADVERSARIAL_ACC])}" if attack.get(model) else ""


def format_headline(summary: dict[str, Any]) -> str:
    lines = []
    teacher, student, attack = summary.get("teacher"), summary.get("student"), summary.get("attack", {})
    if teacher:
        lines.append(f"teacher   {teacher['params']:>11,} params  natural {_f(teacher[NATURAL_ACC])}"
                     + _under_attack(attack, "teacher"))
    if student:
        ratio = f" ({student['param_ratio']:.3f} of teacher)" if isinstance(student.get("param_ratio"), float) else ""
        lines.append(f"student   {student['params']:>11,} params{ratio}  natural {_f(student.get(NATURAL_ACC))}"
                     + _under_attack(attack, "student"))
    for algorithm, result in (summary.get("federated") or {}).items():
        lines.append(
            f"{algorithm:<16} {result['clients_evaluated']}/{result['clients']} clients  "
            f"natural {_f(result['global/natural_acc'])} -> {_f(result['personalized/natural_acc'])}  "
            f"under attack {_f(result['global/adversarial_acc'])} -> {_f(result['personalized/adversarial_acc'])}  "
            f"(global -> personalized, client means; {result['failures']} failed)")
    lines.append(f"summary: {summary['run_dir']}/summary.json   report: {summary['report']}")
    return "\n".join(lines)
