"""How much faster is personalization when a node fine-tunes its devices together?

Times, on real devices of a prepared data folder and a distilled ``bigru_attention`` student, the
personalization of the federated evaluation protocol (all weights, Adam, no DP) two ways:

- device by device: ``fedrobust.federated.local_training.train_locally`` (torch's packed GRU), what
  a node does today;
- stacked: ``fedrobust.federated.stacked_personalization.personalize_stacked`` over stacks of K
  devices (every device's batch padded to ``batch_size`` texts of the tokenizer's max length).

Both on one torch thread, as in a simulation worker. Prints one JSON line: ms per device for each
way (median of --repeats runs over the same devices), and how far the two ways' personalized
models are apart in accuracy on the devices' test texts (they draw dropout from different random
streams, so they are not the same models; they must be as good).

    .venv/bin/python simulations/stacked_personalization_benchmark.py --data DATA --model STUDENT \\
        [--devices 60] [--stack 1 10 30 60] [--epochs 3] [--batch-size 16] [--lr 0.002]
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
from fedrobust.federated.stacked_personalization import DeviceJob, eligible, personalize_stacked
from fedrobust.models import load_model


def device_by_device(model, tokenizer, devices, settings: TrainSettings) -> tuple[float, list]:
    started, trained = time.perf_counter(), []
    for client, seed in devices:
        copy_ = copy.deepcopy(model)
        train_locally(copy_, tokenizer, client.train_texts, client.train_labels, settings, seed=seed)
        trained.append(copy_)
    return (time.perf_counter() - started) / len(devices) * 1000, trained


def stacked(model, tokenizer, devices, settings: TrainSettings, size: int) -> tuple[float, list]:
    started, trained = time.perf_counter(), []
    for first in range(0, len(devices), size):
        jobs = []
        for client, seed in devices[first:first + size]:
            encoded = tokenizer(list(client.train_texts))
            jobs.append(DeviceJob(model, encoded["input_ids"], encoded["attention_mask"],
                                  torch.as_tensor(list(client.train_labels)), seed))
        trained += personalize_stacked(jobs, settings.epochs, settings.lr, settings.batch_size, tokenizer.max_length)
    return (time.perf_counter() - started) / len(devices) * 1000, trained


def mean_test_accuracy(models, tokenizer, devices) -> float:
    return statistics.fmean(accuracy(m, tokenizer, c.test_texts, c.test_labels) for m, (c, _) in zip(models, devices))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", required=True, help="a student folder (bigru_attention, factorized embedding)")
    parser.add_argument("--devices", type=int, default=60)
    parser.add_argument("--stack", type=int, nargs="+", default=[1, 10, 30, 60], help="devices per stack (K)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, tokenizer = load_model(args.model)
    settings = TrainSettings(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)
    if not eligible(model, settings):
        raise SystemExit(f"{args.model}: the stacked engine needs a bigru_attention student with a factorized embedding")
    dataset = FederatedDataset.load(args.data)
    devices = [(dataset.client(i), 1000 + i) for i in range(min(args.devices, len(dataset)))]
    result = {"devices": len(devices), "epochs": args.epochs, "batch_size": args.batch_size,
              "max_length": tokenizer.max_length,
              "train_texts_mean": statistics.fmean(len(c.train_labels) for c, _ in devices)}
    device_by_device(model, tokenizer, devices[:3], settings)  # warm-up
    runs = [device_by_device(model, tokenizer, devices, settings) for _ in range(args.repeats)]
    result["device_by_device_ms"] = round(statistics.median(ms for ms, _ in runs), 2)
    result["device_by_device_test_acc"] = round(mean_test_accuracy(runs[0][1], tokenizer, devices), 4)
    for size in args.stack:
        runs = [stacked(model, tokenizer, devices, settings, size) for _ in range(args.repeats)]
        result[f"stacked_{size}_ms"] = round(statistics.median(ms for ms, _ in runs), 2)
    result["stacked_test_acc"] = round(mean_test_accuracy(runs[0][1], tokenizer, devices), 4)
    result["start_test_acc"] = round(mean_test_accuracy([model] * len(devices), tokenizer, devices), 4)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
