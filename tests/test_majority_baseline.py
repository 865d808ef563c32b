"""simulations/majority_baseline.py: the per-device majority-label baseline."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
import majority_baseline  # noqa: E402


def test_the_baseline_predicts_the_devices_most_frequent_training_label():
    assert majority_baseline.majority_accuracy([1, 1, 0], [1, 0, 1, 1]) == 0.75
    assert majority_baseline.majority_accuracy([0, 0, 1], [1, 0, 1, 1]) == 0.25
