"""Per-device evidence: the majority baseline, constant models, macro vs micro, paired statistics,
alarms and the clients.csv row."""

import math

import pytest
import torch

from fedrobust.evaluation.baselines import majority_accuracy, majority_label
from fedrobust.evaluation.device_statistics import across_seeds, macro_micro, paired_difference
from fedrobust.evaluation.device_summary import compare_rows, summarize_phase
from fedrobust.evaluation.measure import prediction_profile
from fedrobust.federated.alarms import device_alarms, round_alarms
from fedrobust.federated.results import client_columns, client_rows, summarize_clients

THREAT = "fast_pwws@0.1"
ADV = f"adversarial_acc[{THREAT}]"
ASR = f"attack_success_rate[{THREAT}]"


def test_majority_baseline_on_a_hand_made_device():
    # training labels 1, 1, 0 -> always predict 1; three of the four test texts are 1
    assert majority_label([1, 1, 0]) == 1
    assert majority_accuracy([1, 1, 0], [1, 0, 1, 1]) == 0.75
    assert majority_accuracy([0, 0, 1], [1, 0, 1, 1]) == 0.25
    assert majority_label([2, 0, 2, 0]) == 0  # ties go to the smallest label, whatever the order
    assert math.isnan(majority_accuracy([], [1]))


def test_prediction_profile_flags_a_model_that_predicts_one_class_on_90_percent():
    assert prediction_profile(torch.tensor([1] * 9 + [0])) == {"top_class_share": 0.9, "constant": 1}
    assert prediction_profile(torch.tensor([1] * 8 + [0, 0])) == {"top_class_share": 0.8, "constant": 0}


def _row(client, natural, adversarial, constant, n=10, majority=0.5, correct=None):
    return {"client_id": client, "phase": "personalized", "n_test": n, "n_attacked": n,
            "n_correct_attacked": round(natural * n) if correct is None else correct,
            "natural_acc": natural, "majority_acc": majority, "constant": constant,
            "adversarial_acc": adversarial, ADV: adversarial,
            ASR: 1 - adversarial / natural if natural else math.nan}


def test_a_constant_model_is_flagged_and_left_out_of_the_robust_means():
    rows = [_row("a", 0.8, 0.2, 0), _row("b", 0.6, 0.0, 0), _row("c", 0.9, 0.9, 1)]
    summary = summarize_phase(rows)
    threat = summary["threats"][THREAT]
    assert summary["constant_devices"] == 1
    assert threat["adversarial_acc"]["devices"] == 2
    assert threat["adversarial_acc"]["macro"] == pytest.approx(0.1)  # (0.2 + 0.0) / 2, not (0.2 + 0 + 0.9) / 3
    assert threat["constant_devices_adversarial_acc"]["macro"] == pytest.approx(0.9)
    # survives, of correct: 2 of 8 on a, 0 of 6 on b
    assert threat["robust_acc_on_correct"]["micro"] == pytest.approx(2 / 14)
    assert threat["natural_acc_same_devices"]["macro"] == pytest.approx(0.7)
    assert threat["unflipped_devices"] == 1  # c: 0.9 under attack of 0.9
    assert summary["natural_acc"]["devices"] == 3  # natural accuracy keeps every device


def test_micro_and_macro_differ_on_an_uneven_split():
    stats = macro_micro([1, 0], [1, 9])  # one device 1/1, one 0/9
    assert stats["macro"] == pytest.approx(0.5)
    assert stats["micro"] == pytest.approx(0.1)
    assert stats["texts"] == 10 and stats["devices"] == 2
    low, high = stats["macro_ci95"]
    assert low == pytest.approx(0.0) and high == pytest.approx(1.0)  # resampling two devices: 0, 0.5 or 1


def test_paired_bootstrap_gives_the_known_interval():
    same = paired_difference([0.9, 0.8, 0.7, 0.6], [0.8, 0.7, 0.6, 0.5])
    assert same["mean"] == pytest.approx(0.1)
    assert same["ci95"] == pytest.approx([0.1, 0.1])
    assert same["detected"] and same["better"] == 4
    # two devices, differences 0 and 1: bootstrap means are 0, 0.5, 1 with mass 1/4, 1/2, 1/4
    two = paired_difference([1.0, 0.0], [0.0, 0.0], resamples=20000)
    assert two["ci95"] == pytest.approx([0.0, 1.0])
    assert not two["detected"]
    # the exact sign-flip test on 4 equal positive differences: 2 of 16 sign patterns are as extreme
    assert same["p_permutation"] == pytest.approx(2 / 16)
    none = paired_difference([0.5, 0.5], [0.5, 0.5])
    assert none["p_wilcoxon"] == 1.0 and none["mean"] == 0.0
    nan_pairs = paired_difference([0.5, math.nan], [0.4, 0.1])
    assert nan_pairs["devices"] == 1


def test_compare_rows_pairs_devices_and_skips_constant_ones_under_attack():
    a = [_row("x", 0.8, 0.4, 0), _row("y", 0.6, 0.6, 1), _row("z", 0.5, 0.1, 0)]
    b = [_row("x", 0.7, 0.2, 0), _row("y", 0.6, 0.0, 0), _row("w", 0.1, 0.1, 0)]
    result = compare_rows(a, b)
    assert result["natural_acc"]["devices"] == 2  # x and y: z and w are not shared
    assert result["natural_acc"]["mean"] == pytest.approx(0.05)
    assert result[ADV]["devices"] == 1  # y is constant in a
    assert result[ADV]["mean"] == pytest.approx(0.2)


def test_across_seeds_is_mean_and_sample_sd():
    stats = across_seeds([0.7, 0.8, 0.9])
    assert stats["mean"] == pytest.approx(0.8) and stats["sd"] == pytest.approx(0.1)


def test_client_rows_carry_the_baseline_wilson_interval_and_every_threat():
    metrics = {"num-examples": 4, "n-train": 12, "partition-id": 3, "majority_acc": 0.75}
    for phase in ("global", "personalized"):
        metrics.update({f"{phase}/natural_acc": 0.5, f"{phase}/loss": 0.7, f"{phase}/adversarial_acc": 0.25,
                        f"{phase}/attack_success_rate": 0.5, f"{phase}/n_attacked": 4.0,
                        f"{phase}/n_correct_attacked": 2.0, f"{phase}/top_class_share": 0.75, f"{phase}/constant": 0,
                        f"{phase}/{ADV}": 0.25, f"{phase}/{ASR}": 0.5})
    rows = client_rows("fedavg", 3, "movie-3", metrics)
    assert [r["phase"] for r in rows] == ["global", "personalized"]
    row = rows[0]
    assert row["majority_acc"] == 0.75 and row[ADV] == 0.25 and row["n_attacked"] == 4
    assert row["natural_acc_ci95_low"] < 0.5 < row["natural_acc_ci95_high"]
    columns = client_columns(rows)
    assert ADV in columns and ASR in columns and columns.index(ADV) > columns.index("n_correct_attacked")
    summary = summarize_clients(rows)
    assert summary["personalized"]["evidence"]["majority_acc"]["macro"] == 0.75


def test_alarms_name_a_collapsing_model_constant_devices_and_no_gain_over_majority():
    rounds = [{"round": 1, "public_train_acc": 0.62}, {"round": 2, "public_train_acc": 0.19}]
    alarms = round_alarms(0.635, 0.5, rounds)
    assert any("fell from 0.635" in a for a in alarms) and any("majority-class share" in a for a in alarms)
    assert round_alarms(0.6, 0.5, [{"round": 1, "public_train_acc": 0.7}]) == []
    rows = [dict(_row(c, 0.5, 0.5, 1, majority=0.9), phase=p) for c in "abc" for p in ("global", "personalized")]
    summary = summarize_clients(rows)
    messages = device_alarms(summary)
    assert any("on 3 of 3 devices the model predicts one class" in m for m in messages)
    # 0.5 under attack of 0.5 natural: the attack flipped nothing on any device
    assert any(f"on 3 of 3 devices {THREAT} flipped none" in m for m in messages)
    assert any("does not beat each device's majority label" in m for m in messages)
