"""`fedrobust run` over several seeds: one run per seed sharing the stages the seed does not
change, figures as mean ± sd, paired comparisons per seed and pooled, in summary.json and report."""

import json

import pytest

from fedrobust.pipeline.config import config_from_mapping
from fedrobust.pipeline.runner import run_study
from tests.pipeline_helpers import tiny_run_mapping


@pytest.mark.slow  # four tiny federations on Ray: about 100 s on 2 cores
def test_federated_seeds_share_the_upstream_stages_and_aggregate_over_seeds(tmp_path):
    mapping = tiny_run_mapping(tmp_path, algorithms=["fedavg_ft", "local_only"])
    mapping["federated_seeds"] = [0, 1]
    mapping["federated"]["evaluate"] = {"attacks": [{"attack": "fast_deepwordbug", "word_budgets": [0.25]}]}
    summary = run_study(config_from_mapping(mapping))
    run_dir = tmp_path / "run"
    records = {seed: json.loads((run_dir / f"seed-{seed}" / "run.json").read_text())["stages"] for seed in (0, 1)}
    for stage in ("data", "teacher", "distill", "evaluate"):
        assert not records[0][stage]["reused"] and records[1][stage]["reused"]  # made once, for seed 0
    assert not records[1]["federated-fedavg_ft"]["reused"]  # the federation depends on the seed
    assert records[0]["federated-fedavg_ft"]["fingerprint"] != records[1]["federated-fedavg_ft"]["fingerprint"]

    written = json.loads((run_dir / "summary.json").read_text())
    assert written["varied"] == "federated_seed" and written["seeds"] == [0, 1]
    natural = summary["figures"]["fedavg_ft"]["personalized"]["natural_acc (macro)"]
    assert natural["seeds"] == 2 and set(natural["values"]) == {0, 1}
    per_seed = [json.loads((run_dir / f"seed-{s}" / "summary.json").read_text()) for s in (0, 1)]
    assert natural["mean"] == sum(s["federated"]["fedavg_ft"]["evidence"]["personalized"]["natural_acc"]["macro"]
                                  for s in per_seed) / 2
    comparison = summary["comparisons"]["fedavg_ft - local_only"]["personalized"]["natural_acc"]
    assert set(comparison["per_seed"]) == {0, 1} and comparison["pooled"]["devices"] > 0
    assert "fedavg_ft - local_only" in per_seed[0]["comparisons"]  # each seed's own paired comparison
    report = (run_dir / "report" / "report.md").read_text()
    assert "Across seeds (0, 1)" in report and "Paired comparisons across seeds" in report
    assert "Benchmark across seeds (0, 1)" in report and "personalized − local_only" not in report
