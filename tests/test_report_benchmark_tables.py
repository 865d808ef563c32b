"""The benchmark tables of a multi-seed study: one row per algorithm, global -> personalized, the
gain over the majority label, and paired differences with the reference (report.compare_to)."""

import math

import pytest

from fedrobust.report.benchmark_tables import benchmark_blocks
from fedrobust.report.document import Table

THREATS = ("fast_deepwordbug@0.25", "fast_pwws@0.25")


def figure(mean, sd=0.01):
    return {"seeds": 3, "mean": mean, "sd": sd, "values": {0: mean, 1: mean, 2: mean}}


def phase(natural, adversarial, constant):
    return {"natural_acc (macro)": figure(natural), "majority_acc (macro)": figure(0.6, 0.0),
            "gain over majority": figure(natural - 0.6), "constant-model devices": figure(constant, 0.0),
            **{f"adversarial_acc[{t}] (macro)": figure(adversarial) for t in THREATS}}


def pooled(mean, low, high):
    return {"pooled": {"devices": 40, "mean": mean, "ci95": [low, high], "detected": low > 0 or high < 0,
                       "p_wilcoxon": 0.01}}


def summary():
    figures = {name: {"global": phase(0.70, 0.40, 5), "personalized": phase(natural, 0.35, 12)}
               for name, natural in (("fedavg_ft", 0.72), ("ditto", 0.75), ("local_only", 0.61))}
    diff = {"ditto - fedavg_ft": (0.03, 0.01, 0.05), "local_only - fedavg_ft": (-0.11, -0.2, 0.01)}
    comparisons = {pair: {"personalized": {"natural_acc": pooled(*d),
                                           **{f"adversarial_acc[{t}]": pooled(-0.02, -0.05, 0.01) for t in THREATS}}}
                   for pair, d in diff.items()}
    return {"seeds": [0, 1, 2], "figures": figures, "comparisons": comparisons}


def tables(blocks):
    return [b for b in blocks if isinstance(b, Table)]


def test_one_row_per_algorithm_with_paired_differences_against_the_reference():
    natural, attacked, against = tables(benchmark_blocks(summary(), "fedavg_ft"))
    assert [row[0] for row in natural.rows] == ["fedavg_ft", "ditto", "local_only"]
    ditto = dict(zip(natural.header, natural.rows[1]))
    assert ditto["natural"] == "0.700 ± 0.010 → 0.750 ± 0.010"
    assert ditto["majority label"] == "0.600" and ditto["personalized − majority"] == "0.150 ± 0.010"
    assert ditto["personalized − fedavg_ft"] == "+0.030 [+0.010, +0.050] *"  # the interval excludes 0
    assert dict(zip(natural.header, natural.rows[2]))["personalized − fedavg_ft"] == "-0.110 [-0.200, +0.010]"
    assert dict(zip(natural.header, natural.rows[0]))["personalized − fedavg_ft"] == "(reference)"
    assert ditto["constant-model devices"] == "5 → 12"
    assert attacked.header == ["algorithm", *THREATS]
    assert attacked.rows[1][1] == "0.400 ± 0.010 → 0.350 ± 0.010"
    assert against.rows[1] == ["ditto", "-0.020 [-0.050, +0.010] n=40", "-0.020 [-0.050, +0.010] n=40"]


def test_without_a_reference_or_with_missing_figures_nothing_is_invented():
    s = summary()
    natural, attacked = tables(benchmark_blocks(s, None))  # no difference table
    assert not any("−" in h and "majority" not in h for h in natural.header)
    s["figures"]["ditto"]["personalized"]["natural_acc (macro)"] = {"seeds": 0, "mean": math.nan, "sd": math.nan}
    del s["comparisons"]["ditto - fedavg_ft"]
    natural = tables(benchmark_blocks(s, "fedavg_ft"))[0]
    ditto = dict(zip(natural.header, natural.rows[1]))
    assert ditto["natural"] == "0.700 ± 0.010 → –" and ditto["personalized − fedavg_ft"] == "–"
    assert benchmark_blocks({"seeds": [], "figures": {}, "comparisons": {}}, "fedavg_ft") == []


def write_seed_run(folder, changes):
    """A bare simulation folder (clients.csv) of one algorithm whose devices measured explanation
    agreement: global Spearman 0.5 on every device, personalized 0.5 + the device's change."""
    folder.mkdir(parents=True)
    header = ("client_id,algorithm,phase,n_train,n_test,natural_acc,adversarial_acc,majority_acc,constant,"
              "expl_spearman,expl_top5,expl_n\n")
    lines = [f"{d},fedavg_ft,global,12,4,0.75,0.5,0.5,0,0.5,0.6,4\n" for d in range(len(changes))]
    lines += [f"{d},fedavg_ft,personalized,12,4,0.75,0.5,0.5,0,{0.5 + c},0.6,4\n" for d, c in enumerate(changes)]
    (folder / "clients.csv").write_text(header + "".join(lines))


def test_explanation_agreement_across_seeds_pools_each_devices_change(tmp_path):
    from fedrobust.report.seeds import seed_summary

    write_seed_run(tmp_path / "seed-0", [-0.2, -0.1, 0.0])
    write_seed_run(tmp_path / "seed-1", [-0.4, -0.1, 0.2])
    summary = seed_summary({0: tmp_path / "seed-0", 1: tmp_path / "seed-1"})
    figures = summary["figures"]["fedavg_ft"]
    assert figures["global"]["expl_spearman (mean)"]["mean"] == 0.5
    assert figures["personalized"]["expl_spearman (mean)"]["values"] == pytest.approx({0: 0.4, 1: 0.4})
    change = summary["explanation_changes"]["fedavg_ft"]["expl_spearman"]
    assert change["across_seeds"]["mean"] == pytest.approx(-0.1) and change["across_seeds"]["seeds"] == 2
    pooled = change["pooled"]  # each device averaged over seeds: -0.3, -0.1, +0.1
    assert pooled["devices"] == 3 and math.isclose(pooled["mean"], -0.1) and (pooled["better"], pooled["worse"]) == (1, 2)
    assert summary["explanation_changes"]["fedavg_ft"]["expl_top5"]["pooled"]["mean"] == pytest.approx(0.0)
    explained = tables(benchmark_blocks(summary, None))[-1]
    assert explained.header[1] == "agreement" and [r[1] for r in explained.rows] == ["expl_spearman", "expl_top5"]
    assert explained.rows[0][2] == "0.500 ± 0.000 → 0.400 ± 0.000"


def test_the_report_command_tables_runs_as_seeds_of_one_study(tmp_path, capsys):
    from fedrobust.cli.main import main

    write_seed_run(tmp_path / "seed-0", [-0.2, -0.1, 0.0])
    write_seed_run(tmp_path / "seed-3", [-0.4, -0.1, 0.2])
    runs = [str(tmp_path / "seed-0"), str(tmp_path / "seed-3")]
    assert main(["report", *runs, "--across-seeds", "--out", str(tmp_path / "both")]) == 0
    markdown = (tmp_path / "both" / "report.md").read_text()
    assert "## Benchmark across seeds (0, 3)" in markdown and "| fedavg_ft | expl_spearman | 0.500 ± 0.000 → 0.400" in markdown
    assert main(["report", *runs, "--out", str(tmp_path / "plain")]) == 0  # without the flag: no seed tables
    assert "Benchmark across seeds" not in (tmp_path / "plain" / "report.md").read_text()
    assert main(["report", runs[0], runs[0], "--across-seeds", "--out", str(tmp_path / "twice")]) == 2
    assert "the same seed" in capsys.readouterr().err
