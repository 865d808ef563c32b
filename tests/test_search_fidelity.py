"""Budgets of a multi-fidelity search: scaled schedules, nested data subsets, store keys; the paired
comparison and the verdict rule of `fedrobust search-final`."""

import math

import pytest
import torch

from fedrobust.search.compare import judge, paired_difference, verdict_sentence
from fedrobust.search.fidelity import Fidelity, apply_epochs, fidelity_key, scaled_start, subsample_rows
from fedrobust.search.intervals import half_width, texts_needed
from fedrobust.search.space import student_key


def test_epochs_scale_the_schedule_and_keep_the_adversarial_phase():
    mapping = {"train": {"epochs": 4}, "objectives": {"ce": {"weight": 1.0}, "gradmask": {"start_epoch": 3}}}
    assert apply_epochs(mapping, Fidelity(4)) is mapping
    two = apply_epochs(mapping, Fidelity(2))
    assert two["train"]["epochs"] == 2 and two["objectives"]["gradmask"]["start_epoch"] == 2
    assert mapping["objectives"]["gradmask"]["start_epoch"] == 3  # the base is not changed
    assert [scaled_start(3, e, 4) for e in (1, 2, 3, 4)] == [1, 2, 3, 3]
    assert [scaled_start(1, e, 9) for e in (1, 3, 9)] == [1, 1, 1]


def test_the_full_budget_keeps_the_plain_key():
    student = {"name": "prado", "dim": 8}
    full = Fidelity(3)
    assert fidelity_key(student, None, full) == fidelity_key(student, Fidelity(3, 1.0), full) == student_key(student)
    assert fidelity_key(student, Fidelity(3, 1 / 3), full) == student_key(student) + "-e3-d0.3333"
    assert Fidelity(3, 1 / 3) == Fidelity(3, 0.33333)  # rounded: one key, one subset


def test_data_subsets_nest_and_copies_follow_their_texts():
    n = 20
    train_orig = torch.tensor([3, 1, 4, 15, 9, 2, 6, 5, 8, 7, 10, 11, 12, 13, 14, 16])  # 4 validation texts left out
    copies = torch.arange(n, n + 2 * len(train_orig))  # two copies of each training text
    transfer = torch.arange(n + 2 * len(train_orig), n + 2 * len(train_orig) + 6)
    source = torch.full((int(transfer[-1]) + 1,), -1)
    source[copies] = train_orig.repeat_interleave(2)
    train_idx = torch.cat([train_orig, copies, transfer])
    small_texts, small_rows = subsample_rows(train_orig, train_idx, source, n, 0.25, seed=0)
    large_texts, large_rows = subsample_rows(train_orig, train_idx, source, n, 0.5, seed=0)
    assert len(small_texts) == 4 and len(large_texts) == 8
    assert set(small_texts.tolist()) <= set(large_texts.tolist()) and set(small_rows.tolist()) <= set(large_rows.tolist())
    for texts, rows in ((small_texts, small_rows), (large_texts, large_rows)):
        copied = [int(source[r]) for r in rows.tolist() if r >= n and source[r] >= 0]
        assert sorted(copied) == sorted(texts.tolist() * 2)
    assert sum(1 for r in large_rows.tolist() if r >= n and source[r] < 0) == 3  # half of the 6 transfer rows
    assert subsample_rows(train_orig, train_idx, source, n, 1.0, seed=0)[1] is train_idx


def test_interval_sizes():
    assert texts_needed(0.75, 0.03) == 799
    assert half_width(0.75, 799) <= 0.03 < half_width(0.75, 798)
    assert 0.06 < half_width(0.75, 156) < 0.075 and half_width(0.5, 0) == math.inf


def test_paired_difference_over_seeds_and_texts():
    reference = [[1, 0, 1, 0, 1, 0, 1, 0, 1, 0]] * 3
    better = [[1, 1, 1, 0, 1, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 0, 1, 0, 1, 1], [1, 1, 1, 0, 1, 1, 1, 1, 1, 0]]
    d = paired_difference(better, reference, resamples=500)
    assert d["per_seed"] == pytest.approx([0.3, 0.3, 0.3]) and d["mean"] == pytest.approx(0.3) and d["sd"] == 0.0
    assert d["interval"][0] == min(d["interval_seeds"][0], d["interval_texts"][0]) > 0
    same = paired_difference(reference, reference, resamples=200)
    assert same["interval"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="same texts"):
        paired_difference(better, [r[:5] for r in reference])


def diff(low, high):
    return {"mean": (low + high) / 2, "interval": [low, high]}


@pytest.mark.parametrize("natural, robust, params, wins, why", [
    (diff(-0.005, 0.02), {"a": diff(0.01, 0.05), "b": diff(0.002, 0.04)}, 900, True, "more_robust"),
    (diff(-0.02, 0.02), {"a": diff(0.01, 0.05), "b": diff(0.002, 0.04)}, 900, False, "not as accurate"),
    (diff(-0.005, 0.02), {"a": diff(0.01, 0.05), "b": diff(-0.002, 0.04)}, 900, False, "one family not above 0"),
    (diff(-0.005, 0.02), {"a": diff(-0.008, 0.03), "b": diff(-0.002, 0.04)}, 500, True, "as robust, 2x smaller"),
    (diff(-0.005, 0.02), {"a": diff(-0.008, 0.03), "b": diff(-0.002, 0.04)}, 501, False, "not 2x smaller"),
    (diff(-0.005, 0.02), {"a": diff(-0.02, 0.03), "b": diff(0.01, 0.04)}, 100, False, "less robust under a"),
])
def test_verdict_rule(natural, robust, params, wins, why):
    verdict = judge(natural, robust, params, reference_params=1000, margin=0.01, size_ratio=2.0)
    assert verdict["wins"] is wins, why


def test_verdict_sentence():
    loser = {"key": "k1", "verdict": {"wins": False}}
    assert verdict_sentence([loser], "4 epochs").startswith("No searched student beats the hand-designed one at the "
                                                             "stated budget (4 epochs)")
    winner = {"key": "k2", "verdict": {"wins": True, "more_robust": True}, "natural": diff(0.0, 0.02),
              "robust": {"fast_pwws@0.25": diff(0.01, 0.03)}, "size_ratio": 1.2}
    assert "k2 (more robust; natural +0.010 [+0.000, +0.020]; robust fast_pwws@0.25 +0.020" in \
        verdict_sentence([loser, winner], "4 epochs")
