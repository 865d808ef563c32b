"""The few lines `fedrobust run` prints at the end."""

from __future__ import annotations

from typing import Any

from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, NATURAL_ACC


def _f(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "–"


def _under_attack(attack: dict[str, Any], model: str) -> str:
    """The evaluate stage's accuracy under each threat of one model, when it was evaluated."""
    threats = attack.get("threats") or []
    if not attack.get(model) or not threats:
        return ""
    return "  under " + ", ".join(f"{t} {_f(attack[model].get(t, {}).get(ADVERSARIAL_ACC))}" for t in threats)


def format_headline(summary: dict[str, Any]) -> str:
    lines = []
    teacher, student, attack = summary.get("teacher"), summary.get("student"), summary.get("attack", {})
    if teacher:
        lines.append(f"teacher   {teacher['params']:>11,} params  natural {_f(teacher[NATURAL_ACC])}"
                     + _under_attack(attack, "teacher"))
    if student:
        ratio = f" ({student['param_ratio']:.3f} of teacher)" if isinstance(student.get("param_ratio"), float) else ""
        validation = f" (validation {_f(student['val_natural_acc'])})" if "val_natural_acc" in student else ""
        lines.append(f"student   {student['params']:>11,} params{ratio}  natural {_f(student.get(NATURAL_ACC))}{validation}"
                     + _under_attack(attack, "student"))
    for algorithm, result in (summary.get("federated") or {}).items():
        constant = result.get("constant_devices") or {}
        lines.append(
            f"{algorithm:<16} {result['clients_evaluated']}/{result['clients']} devices  "
            f"natural {_f(result['global/natural_acc'])} -> {_f(result['personalized/natural_acc'])} "
            f"(majority label {_f(result.get('majority_acc'))})  "
            f"under attack {_f(result['global/adversarial_acc'])} -> {_f(result['personalized/adversarial_acc'])} "
            f"(without {constant.get('global', 0)} / {constant.get('personalized', 0)} constant-model devices)  "
            f"(global -> personalized, device means; {result['failures']} failed)")
        lines += [f"  WARNING: {alarm}" for alarm in result.get("alarms", [])]
    lines.append(f"summary: {summary['run_dir']}/summary.json   report: {summary['report']}")
    return "\n".join(lines)


def format_seed_headline(summary: dict[str, Any]) -> str:
    """A multi-seed study: each algorithm's personalized figures as mean ± sd over seeds."""
    lines = [f"{summary['varied']} in {summary['seeds']}: mean ± sd over seeds, personalized phase, macro over devices"]
    for algorithm, phases in summary["figures"].items():
        figures = phases.get("personalized", {})
        parts = [f"{name} {_f(f['mean'])} ± {_f(f['sd'])}" for name, f in figures.items()
                 if name.startswith(("natural_acc (macro)", "majority", "adversarial_acc"))]
        lines.append(f"{algorithm:<16} " + "  ".join(parts))
    lines.append(f"summary: {summary['run_dir']}/summary.json   report: {summary['report']}")
    return "\n".join(lines)
