"""`fedrobust report`: Markdown + HTML with plots, built from tiny real simulation runs."""

import base64
import re

import pytest

from fedrobust.cli.main import main
from fedrobust.errors import DataError
from fedrobust.federated.simulate import simulate
from fedrobust.report import build_report
from fedrobust.report.collect import load_runs
from tests.federated_helpers import make_federation, sim_config

PNG_MAGIC = b"\x89PNG"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    data_dir, model_dir = make_federation(root, num_owners=6)
    simulate(sim_config(data_dir, model_dir, algorithm="fedavg_ft", rounds=1), root / "fedavg_ft")
    simulate(sim_config(data_dir, model_dir, algorithm="local_only"), root / "local_only")
    return root / "fedavg_ft", root / "local_only"


def test_report_of_one_run_has_the_headline_table_and_plots(two_runs):
    run = two_runs[0]
    paths = build_report([run], run / "report")
    markdown = paths["markdown"].read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| fedavg_ft "))
    assert "| 5/5 |" in row  # five device clients, all evaluated
    assert {p.name for p in paths["plots"]} == {"client_accuracy.png", "personalization_gain.png",
                                              "algorithm_comparison.png", "rounds.png", "budget_curves.png"}
    for plot in paths["plots"]:
        assert plot.read_bytes().startswith(PNG_MAGIC) and f"]({plot.name})" in markdown
    html = paths["html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 5 and all(base64.b64decode(i).startswith(PNG_MAGIC) for i in images)


def test_report_reads_every_accuracy_against_the_majority_baseline(two_runs, tmp_path):
    markdown = build_report(list(two_runs), tmp_path / "report")["markdown"].read_text()
    assert "Against the majority-label baseline" in markdown
    baseline_rows = [line for line in markdown.splitlines() if line.startswith(("| fedavg_ft | personalized", "| local_only | personalized"))]
    assert len(baseline_rows) >= 2
    assert "| fedavg_ft − local_only | natural_acc |" in markdown  # paired comparison, both phases
    assert "adversarial_acc[fast_deepwordbug@" in markdown


def test_report_compares_runs_and_counts_clients(two_runs, tmp_path):
    runs = load_runs(list(two_runs))
    assert [a.label for r in runs for a in r.arms] == ["fedavg_ft", "local_only"]
    gains = runs[0].arms[0].gains()
    assert len(gains) == 5 and all(-1 <= g["natural_acc"] <= 1 for g in gains)
    assert main(["report", *map(str, two_runs), "--out", str(tmp_path / "cmp")]) == 0
    markdown = (tmp_path / "cmp" / "report.md").read_text()
    assert "| fedavg_ft |" in markdown and "| local_only |" in markdown


def test_a_folder_without_results_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(DataError, match="holds no finished run"):
        build_report([tmp_path], tmp_path / "report")
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def _study_folder(root, name, attack):
    import json

    folder = root / name
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"name": name, "stages": {}}))
    (folder / "summary.json").write_text(json.dumps({
        "name": name, "teacher": {"params": 4_000_000, "natural_acc": 0.9},
        "student": {"name": "bigru_attention", "params": 40_000, "param_ratio": 0.01, "natural_acc": 0.85},
        "attack": {"attack": "fast_deepwordbug", **attack}}))
    return folder


def test_the_study_table_reads_runs_written_before_the_metric_renames(tmp_path):
    new = _study_folder(tmp_path, "new", {"student": {"natural_acc": 0.85, "adversarial_acc": 0.375}})
    old = _study_folder(tmp_path, "old", {"student": {"clean_acc": 0.85, "adv_acc": 0.625}})  # older summary.json
    markdown = build_report([new, old], tmp_path / "report")["markdown"].read_text()
    assert "| new |" in markdown and "0.375" in markdown
    assert "| old |" in markdown and "0.625" in markdown


def test_the_study_paragraph_names_the_attribution_method_of_the_runs(tmp_path):
    ig = _study_folder(tmp_path, "ig", {"student": {"natural_acc": 0.85},
                                        "explanation_agreement": {"mean_spearman": 0.4,
                                                                  "attribution": "integrated_gradients"}})
    markdown = build_report([ig], tmp_path / "report_ig")["markdown"].read_text()
    assert "token attributions (integrated gradients from a [PAD] baseline)" in markdown
    old = _study_folder(tmp_path, "old", {"student": {"natural_acc": 0.85}, "explanation_agreement": {"mean_spearman": 0.4}})
    markdown = build_report([old], tmp_path / "report_old")["markdown"].read_text()
    assert "token attributions (gradient × input)" in markdown  # summaries from before the key: gradient x input
