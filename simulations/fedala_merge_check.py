"""How far FedALA's adaptive local aggregation moves a device away from the global model.

Reads a finished FedALA federation's folder (its ``checkpoints/`` and ``client_state/``) and
prints, over the devices that kept a local model, the merge weights W they learned (mean per
merged tensor, and the share of entries below 0.999) and two distances relative to the final
global model's merged tensors: the device's local model, and the merge
w_local + (w_global - w_local) * W with the W the device kept from its last round (personalization
learns W for one more epoch from there). A merge distance near 0 means FedALA's personalized start
is the global model, so it behaves like fedavg_ft.

    python simulations/fedala_merge_check.py runs/quickstart/stages/federated-fedala/<fingerprint>
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from fedrobust.federated.algorithms.fedala import LOCAL_PREFIX, device_state, merge
from fedrobust.federated.client_state import ClientStateStore


def _relative_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], names: list[str]) -> float:
    num = sum(float(((a[n] - b[n]) ** 2).sum()) for n in names)
    den = sum(float((b[n] ** 2).sum()) for n in names)
    return (num / den) ** 0.5 if den > 0 else float("nan")


def final_global(run_dir: Path) -> dict[str, torch.Tensor]:
    rounds = sorted((run_dir / "checkpoints").glob("round_*.safetensors"))
    if not rounds:
        raise SystemExit(f"{run_dir}/checkpoints holds no round checkpoint: is this a finished federation's folder?")
    return load_file(str(rounds[-1]))


def device_keys(run_dir: Path) -> list[str]:
    """The devices that saved state in the federation (their client_state folders)."""
    return sorted(p.name for p in (run_dir / "client_state").glob("*") if p.is_dir())


def device_rows(run_dir: Path) -> list[dict[str, float]]:
    """Per device with a local model: W's mean per tensor, share of W below 0.999, both distances."""
    global_weights = final_global(run_dir)
    rows = []
    for key in device_keys(run_dir):
        saved = ClientStateStore(run_dir, key).load(before_round=sys.maxsize)  # its last save
        if saved is None:
            continue
        if not any(k.startswith(LOCAL_PREFIX) for k in saved):
            raise SystemExit(f"{run_dir}/client_state/{key} holds no FedALA local model: is {run_dir} a fedala "
                             "federation?")
        local, weights = device_state(saved)
        if not weights:
            continue
        names = sorted(weights)
        merged = merge(local, global_weights, weights)
        entries = torch.cat([weights[n].flatten() for n in names])
        row = {f"W mean {n}": float(weights[n].mean()) for n in names}
        row.update({"W share < 0.999": float((entries < 0.999).float().mean()),
                    "local vs global": _relative_distance(local, global_weights, names),
                    "merge vs global": _relative_distance(merged, global_weights, names)})
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a fedala federation's folder (checkpoints/, client_state/)")
    args = parser.parse_args(argv)
    rows = device_rows(args.run_dir)
    print(f"{len(rows)} of {len(device_keys(args.run_dir))} devices with state kept a local model and merge weights")
    if not rows:
        return 1
    for column in rows[0]:
        values = [r[column] for r in rows]
        print(f"{column}: median {statistics.median(values):.4g}, mean {statistics.mean(values):.4g}, "
              f"max {max(values):.4g}")
    print("distances: ||a - global|| / ||global|| over the merged tensors of the final global model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
