"""simulations/batched_personalization_probe.py runs and reports both ways."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "simulations" / "batched_personalization_probe.py"


def test_probe_prints_both_timings():
    out = subprocess.run([sys.executable, str(SCRIPT), "--devices", "2", "--together", "1", "3", "--repeats", "1",
                          "--max-length", "8"], capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) == {"texts", "max_length", "device_by_device_ms", "stacked_1_ms", "stacked_3_ms"}
    assert all(result[k] > 0 for k in ("device_by_device_ms", "stacked_1_ms", "stacked_3_ms"))
