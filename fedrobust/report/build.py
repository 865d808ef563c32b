"""`fedrobust report`: Markdown and HTML with PNG plots for one or more finished runs."""

from __future__ import annotations

from pathlib import Path

from fedrobust.errors import DataError
from fedrobust.files import write_text_atomically
from fedrobust.report import plots
from fedrobust.report.collect import load_runs
from fedrobust.report.document import Block, Heading, Image, Paragraph, to_html, to_markdown
from fedrobust.report.tables import arms_table, stages_table, study_table


def build_report(run_dirs: list[str | Path], out_dir: str | Path, title: str | None = None) -> dict[str, Path]:
    runs = load_runs(run_dirs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = [arm for run in runs for arm in run.arms]
    title = title or ("fedrobust report: " + ", ".join(r.name for r in runs))
    blocks: list[Block] = [Heading(title, 1), Paragraph("Runs: " + "; ".join(f"{r.name} ({r.dir})" for r in runs))]
    study = study_table(runs)
    if study:
        blocks += [Heading("Compressed student"), Paragraph(
            "Natural accuracy on the server's public test split; accuracy under attack on the seeded sample of it "
            "attacked in the evaluate stage; attribution ρ: mean Spearman correlation of student and teacher "
            "token attributions (gradient × input)."), study]
    images: list[Path] = []
    if arms:
        blocks += [Heading("Federated clients"), Paragraph(
            "Means over clients with 95% intervals. Global: the federated model on each client's test split; "
            "personalized: after on-device fine-tuning. Gains are personalized minus global, per client."),
            arms_table(arms)]
        images = [plots.client_accuracy(arms, out_dir / "client_accuracy.png"),
                  plots.personalization_gain(arms, out_dir / "personalization_gain.png"),
                  plots.arm_comparison(arms, out_dir / "algorithm_comparison.png")]
        curve = plots.rounds_curve(arms, out_dir / "rounds.png")
        images += [curve] if curve else []
        captions = {"client_accuracy": "per-client natural vs adversarial accuracy, before and after personalization",
                    "personalization_gain": "personalization gain per client against the client's data size",
                    "algorithm_comparison": "comparison across algorithms and runs",
                    "rounds": "the global model's public-split accuracy after each round"}
        blocks += [Image(p, captions[p.stem]) for p in images]
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
