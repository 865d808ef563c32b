"""How much faster is DP-SGD personalization with stacked per-sample gradients than with Opacus's hooks?

Times, on real devices of a prepared data folder and a distilled ``bigru_attention`` student
(factorized embedding), one device's DP-SGD personalization (every weight, Adam, the privacy
sweep's settings by default) three ways: ``train_privately`` with Opacus's per-sample gradient hooks
(``engine="opacus"``), with the stacked engine (``engine="auto"``, fedrobust.privacy.stacked_dp_sgd),
and without DP (``train_locally``), on one torch thread as in a simulation worker. Prints one JSON
line: seconds per device for each (median of --repeats passes over the same devices), the ratio
opacus / stacked, both engines' epsilon (the same accounting), and the mean personalized accuracy on
the devices' test texts for each (different random draws, so not the same models; they must be
about as good).

    .venv/bin/python simulations/dp_sgd_benchmark.py --data DATA --model STUDENT [--devices 30]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from fedrobust.data import FederatedDataset
from fedrobust.evaluation import accuracy
from fedrobust.federated.local_training import TrainSettings, train_locally
from fedrobust.models import load_model
from fedrobust.privacy import stacked_dp_sgd
from fedrobust.privacy.config import DPConfig
from fedrobust.privacy.dp_personalization import train_privately


def personalize_all(model, tokenizer, devices, settings: TrainSettings, dp: DPConfig | None,
                    engine: str) -> tuple[float, list, list[float]]:
    started, trained, epsilons = time.perf_counter(), [], []
    for client, seed in devices:
        copy_ = copy.deepcopy(model)
        if dp is None:
            train_locally(copy_, tokenizer, client.train_texts, client.train_labels, settings, seed=seed)
        else:
            result = train_privately(copy_, tokenizer, client.train_texts, client.train_labels, settings, dp,
                                     seed=seed, engine=engine)
            epsilons.append(result["epsilon"])
        trained.append(copy_)
    return (time.perf_counter() - started) / len(devices), trained, epsilons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True, help="a student folder (bigru_attention, factorized embedding)")
    parser.add_argument("--devices", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = load_model(args.model)
    if not stacked_dp_sgd.eligible(model, None):
        raise SystemExit(f"{args.model}: the stacked engine needs a bigru_attention student with a factorized embedding")
    settings = TrainSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)
    dp = DPConfig(noise_multiplier=args.noise, max_grad_norm=args.max_grad_norm)
    dataset = FederatedDataset.load(args.data)
    devices = [(dataset.client(i), 1000 + i) for i in range(min(args.devices, len(dataset)))]
    result = {"devices": len(devices), "epochs": args.epochs, "batch_size": args.batch_size, "noise": args.noise,
              "train_texts_mean": round(statistics.fmean(len(c.train_labels) for c, _ in devices), 2)}
    personalize_all(model, tokenizer, devices[:2], settings, dp, "opacus")  # warm-up
    for label, way_dp, engine in (("opacus", dp, "opacus"), ("stacked", dp, "auto"), ("no_dp", None, "auto")):
        runs = [personalize_all(model, tokenizer, devices, settings, way_dp, engine) for _ in range(args.repeats)]
        result[f"{label}_s_per_device"] = round(statistics.median(seconds for seconds, _, _ in runs), 3)
        trained, epsilons = runs[0][1], runs[0][2]
        result[f"{label}_test_acc"] = round(statistics.fmean(
            accuracy(m, tokenizer, c.test_texts, c.test_labels) for m, (c, _) in zip(trained, devices)), 4)
        if epsilons:
            result[f"{label}_epsilon_median"] = round(statistics.median(epsilons), 3)
    result["opacus_over_stacked"] = round(result["opacus_s_per_device"] / result["stacked_s_per_device"], 2)
    result["start_test_acc"] = round(statistics.fmean(
        accuracy(model, tokenizer, c.test_texts, c.test_labels) for c, _ in devices), 4)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
