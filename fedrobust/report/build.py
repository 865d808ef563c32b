"""`fedrobust report`: Markdown and HTML with PNG plots for one or more finished runs."""

from __future__ import annotations

from pathlib import Path

from fedrobust.errors import DataError
from fedrobust.files import write_text_atomically
from fedrobust.report import evidence, plots
from fedrobust.report.collect import load_runs
from fedrobust.report.document import Block, Heading, Image, Paragraph, to_html, to_markdown
from fedrobust.report.tables import arms_table, explanation_table, stages_table, study_table


def evidence_blocks(arms: list, out_dir: Path, within_runs: bool = False,
                    compare_to: str | None = None) -> tuple[list[Block], list[Path]]:
    """Baselines, threats, paired comparisons, budget curves and alarms (see report.evidence)."""
    summaries = evidence.phase_summaries(arms)
    blocks: list[Block] = []
    warnings = evidence.alarms(arms, summaries)
    if warnings:
        blocks += [Heading("Alarms", 3), Paragraph("\n".join(f"- {w}" for w in warnings))]
    blocks += [Heading("Against the majority-label baseline", 3), Paragraph(
        "Per device, the majority-label baseline predicts the most frequent label of the device's own training "
        "texts. Macro: mean over devices; micro: pooled over texts; [95% bootstrap interval over devices]. The "
        "gain is the paired per-device difference of natural accuracy minus the baseline. A constant-model "
        "device is one where the model predicts a single class for >= 90% of its test texts."),
        evidence.baseline_table(summaries),
        Heading("Under attack, per threat model", 3), Paragraph(
        "A threat is an attack at a word budget (at most that fraction of a text's words modified). Accuracy "
        "under attack counts texts still classified correctly after the attack over all attacked texts; "
        "'survives, of correct' is over the texts classified correctly before (1 - attack success rate). "
        "Constant-model devices are left out of both and shown apart."),
        evidence.threat_table(summaries)]
    for phase in ("personalized", "global"):
        table = evidence.comparison_table(arms, phase, within_runs, compare_to)
        if table:
            blocks += [Heading(f"Paired comparisons, {phase}", 3), Paragraph(
                "Differences per device (first minus second algorithm), mean with a 95% bootstrap interval over "
                "devices and the Wilcoxon signed-rank p; 'no difference detected' when the interval covers 0. "
                "Accuracy under attack leaves out devices where either model is constant."), table]
    curve = plots.budget_curves(evidence.budget_curves(summaries), out_dir / "budget_curves.png")
    if curve:
        blocks += [Image(curve, "accuracy against the attack's word budget (0: natural accuracy), per algorithm "
                                "and phase; macro over devices without constant-model devices")]
    return blocks, [curve] if curve else []


ATTRIBUTION_NAMES = {"grad_x_input": "gradient × input",
                     "integrated_gradients": "integrated gradients from a [PAD] baseline"}


def _study_methods(runs: list) -> list[str]:
    """How the evaluate stages explained (older summaries name no method: gradient x input)."""
    found = {((r.summary.get("attack") or {}).get("explanation_agreement") or {}).get("attribution", "grad_x_input")
             for r in runs if r.summary.get("student") or r.summary.get("teacher")}
    return sorted(ATTRIBUTION_NAMES.get(m, m) for m in found) or [ATTRIBUTION_NAMES["grad_x_input"]]


def build_report(run_dirs: list[str | Path], out_dir: str | Path, title: str | None = None,
                 extra: list[Block] | None = None, compare_within_runs: bool = False,
                 compare_to: str | None = None) -> dict[str, Path]:
    """Markdown and HTML over the runs; ``extra`` blocks (a multi-seed study's) come first,
    ``compare_within_runs`` pairs only algorithms of the same run (the seeds of one study), and
    ``compare_to`` names the reference algorithm of the paired comparisons (fedrobust.report.pairs)."""
    runs = load_runs(run_dirs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = [arm for run in runs for arm in run.arms]
    title = title or ("fedrobust report: " + ", ".join(r.name for r in runs))
    blocks: list[Block] = [Heading(title, 1), Paragraph("Runs: " + "; ".join(f"{r.name} ({r.dir})" for r in runs)),
                           *(extra or [])]
    study = study_table(runs)
    if study:
        blocks += [Heading("Compressed student"), Paragraph(
            "Natural accuracy on the server's public test split; accuracy under attack on the seeded sample of it "
            "attacked in the evaluate stage; attribution ρ: mean Spearman correlation of student and teacher "
            f"token attributions ({' / '.join(_study_methods(runs))})."), study]
    images: list[Path] = []
    if arms:
        blocks += [Heading("Federated clients"), Paragraph(
            "Means over clients with 95% intervals. Global: the federated model on each client's test split; "
            "personalized: after on-device fine-tuning. Gains are personalized minus global, per client. Accuracy "
            "under attack is under the primary threat (the first attack at its first budget), without the "
            "devices where the model predicts one class for >= 90% of the test texts."),
            arms_table(arms)]
        explanations = explanation_table(arms)
        if explanations:
            methods = sorted({ATTRIBUTION_NAMES.get(m, m) for m in (
                arm.summary.get("explanations", {}).get("attribution", "grad_x_input") for arm in arms)})
            blocks += [Heading("Explanations before and after personalization", 3), Paragraph(
                f"Agreement of each device's token attributions ({' / '.join(methods)} for the gold label) with the "
                "teacher's on the same texts: expl_spearman, the Spearman correlation of their magnitudes; "
                "expl_top<k>, the share of the teacher's k most important tokens among the model's k. Means over "
                "devices with 95% bootstrap intervals; the change is personalized minus global, paired per device."),
                explanations]
        evidence_images: list[Path] = []
        if evidence.has_evidence(arms):
            more, evidence_images = evidence_blocks(arms, out_dir, compare_within_runs, compare_to)
            blocks += more
        images = [plots.client_accuracy(arms, out_dir / "client_accuracy.png"),
                  plots.personalization_gain(arms, out_dir / "personalization_gain.png"),
                  plots.arm_comparison(arms, out_dir / "algorithm_comparison.png")]
        curve = plots.rounds_curve(arms, out_dir / "rounds.png")
        images += [curve] if curve else []
        captions = {"client_accuracy": "per-client natural vs adversarial accuracy, before and after personalization",
                    "personalization_gain": "personalization gain per client against the client's data size",
                    "algorithm_comparison": "comparison across algorithms and runs",
                    "rounds": "the global model's accuracy on a sample of the public train split after each round (the monitor)"}
        blocks += [Image(p, captions[p.stem]) for p in images]
        images += evidence_images
    elif not study:
        raise DataError("nothing to report: the runs hold neither federated results nor a student")
    for run in runs:
        table = stages_table(run)
        if table:
            blocks += [Heading(f"Stages of {run.name}", 3), table]
    markdown, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text_atomically(markdown, to_markdown(blocks, out_dir))
    write_text_atomically(html_path, to_html(blocks, title))
    return {"markdown": markdown, "html": html_path, "plots": images}
