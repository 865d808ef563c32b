"""Check ATMC's constraints on a trained student, as loaded from disk (issue 22): every constrained
tensor's share of zeros, its number of distinct non-zero values (a symmetric b-bit grid has at most
2^b - 2), and the rank of every factorized linear map (up @ down).

    python simulations/atmc_constraints.py runs/atmc_study/atmc/student
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fedrobust.distill.compression.projection import constrained_names
from fedrobust.models import load_model
from fedrobust.models.lowrank import LowRankLinear


def constraint_report(model: torch.nn.Module) -> dict:
    tensors = {}
    for name in constrained_names(model):
        weight = model.get_parameter(name).detach()
        tensors[name] = {"shape": list(weight.shape), "zero_share": float((weight == 0).float().mean()),
                         "nonzero_levels": int(torch.unique(weight[weight != 0]).numel())}
    ranks = {}
    for name, module in model.named_modules():
        if isinstance(module, LowRankLinear):
            product = module.up.weight @ module.down.weight
            ranks[name] = {"shape": list(product.shape), "rank": int(torch.linalg.matrix_rank(product)),
                           "inner": int(module.down.weight.shape[0])}
    return {"tensors": tensors, "low_rank": ranks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("student", type=Path, help="a student folder (e.g. an ATMC run's student/)")
    args = parser.parse_args()
    model, _ = load_model(args.student)
    report = constraint_report(model)
    meta = json.loads((args.student / "model.json").read_text())
    print(json.dumps({"student": str(args.student), "bits": meta.get("bits"), **report}, indent=2))
    shares = [t["zero_share"] for t in report["tensors"].values()]
    print(f"{len(shares)} constrained tensors: zero share {min(shares):.4f}-{max(shares):.4f}, at most "
          f"{max(t['nonzero_levels'] for t in report['tensors'].values())} distinct non-zero values; ranks "
          + ", ".join(f"{n} {r['rank']} of {min(r['shape'])}" for n, r in report["low_rank"].items()))


if __name__ == "__main__":
    main()
