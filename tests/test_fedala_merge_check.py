"""simulations/fedala_merge_check.py: how far FedALA's merge moves a device from the global model."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "simulations"))
import fedala_merge_check  # noqa: E402

from fedrobust.federated.algorithms.fedala import LOCAL_PREFIX, WEIGHT_PREFIX  # noqa: E402


def write_federation(root: Path, devices: dict[str, dict[str, torch.Tensor]]) -> Path:
    (root / "checkpoints").mkdir(parents=True)
    save_file({"body": torch.zeros(3), "head": torch.ones(4)}, str(root / "checkpoints" / "round_0001.safetensors"))
    save_file({"body": torch.zeros(3), "head": torch.full((4,), 2.0)}, str(root / "checkpoints" / "round_0002.safetensors"))
    for name, tensors in devices.items():
        (root / "client_state" / name).mkdir(parents=True)
        save_file(tensors, str(root / "client_state" / name / "round_00001.safetensors"))
    return root


def test_distances_follow_the_merge_with_the_kept_weights(tmp_path, capsys):
    local = {LOCAL_PREFIX + "body": torch.ones(3), LOCAL_PREFIX + "head": torch.zeros(4)}
    devices = {
        "000000": {**local, WEIGHT_PREFIX + "head": torch.full((4,), 0.75)},  # merge = 0 + 2 * 0.75 = 1.5
        "000001": {**local, WEIGHT_PREFIX + "head": torch.ones(4)},           # merge = the global head
        "000002": dict(local),                                                # no merge yet: left out
    }
    rows = fedala_merge_check.device_rows(write_federation(tmp_path, devices))
    assert len(rows) == 2
    assert rows[0]["local vs global"] == pytest.approx(1.0)  # |0 - 2| / |2| on the merged tensor only
    assert rows[0]["merge vs global"] == pytest.approx(0.25)
    assert rows[0]["W share < 0.999"] == 1.0 and rows[1]["W share < 0.999"] == 0.0
    assert rows[1]["merge vs global"] == 0.0
    assert fedala_merge_check.main([str(tmp_path)]) == 0
    assert "2 of 3 devices" in capsys.readouterr().out


def test_a_folder_that_is_not_a_fedala_federation_is_refused(tmp_path):
    write_federation(tmp_path, {"000000": {"personal.head": torch.zeros(4)}})
    with pytest.raises(SystemExit, match="no FedALA local model"):
        fedala_merge_check.device_rows(tmp_path)
    with pytest.raises(SystemExit, match="no round checkpoint"):
        fedala_merge_check.device_rows(tmp_path / "missing")
