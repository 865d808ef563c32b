"""One personalization + evaluation round on N simulated devices under the full device protocol,
through Flower, against the same per-device work in a plain single-process loop.

    .venv/bin/python simulations/scale_benchmark.py --sizes 100 1000 10000 --out runs/scale_benchmark

The devices are the first N of `configs/scale.yaml`'s data (airline_tweets, 10,000 devices with
power-law sizes) and the model is that config's distilled robust student, both made by
`fedrobust run configs/scale.yaml` stages (cached in OUT/study, or --study DIR/study). The protocol
is the device phase's default: the global model measured, personalized (2 epochs), measured again;
natural accuracy on every test text and both attack families (fast_deepwordbug, fast_pwws) at 10%
and 25% of words with 2,000 queries on every test text. For each N it prints one JSON line:
wall_s (the Flower simulation, Ray start-up included), per_device_ms, peak_rss_gib (driver plus
every Ray process, sampled), plain_loop_s and plain_loop_ratio (wall_s / plain_loop_s) where the
plain loop runs the per-device function of the evaluate phase device after device in this process
with torch on every core (no cohorts, no pooled attacks: what one would write by hand), on all N
devices or on the first --plain-loop-devices (then plain_loop_s is scaled up to N and the line says
how many were timed), failures and plain_loop_failures
(devices that failed on either side; the simulation's reasons grouped in failure_reasons), and
identical: whether the loop reproduced the simulation's per-client metrics, compared only when
neither side lost a device ("n/a" otherwise: a comparison over the survivors would hide the loss).
A size with failures makes the script exit with status 1 after its line.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psutil
import torch

from fedrobust.federated import worker_cache
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.config import config_from_mapping
from fedrobust.federated.device_eval import evaluate_cohort
from fedrobust.federated.failures import FederationError
from fedrobust.federated.simulate import simulate
from fedrobust.pipeline import load_run_config, run_study

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("natural_acc", "adversarial_acc", "n_attacked")


class PeakMemory:
    """Largest summed RSS of this process and all its descendants (the Ray workers), sampled."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s, self.peak, self._stop = interval_s, 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def study_artifacts(out: Path, config_path: Path) -> tuple[str, str]:
    """Data folder and student folder from the scale config's stages (no federation)."""
    config = load_run_config(config_path, {"out": str(out / "study"), "federated.algorithms": []})
    summary = run_study(config)
    return summary["data"]["output"], summary["student"]["output"]


def sim_config(data: str, model: str, n: int, args: argparse.Namespace, devices_per_node: int):
    engine = {"devices_per_node": devices_per_node, "num_cpus_per_client": 1.0}
    if args.ray_address:
        engine["ray_address"] = args.ray_address
    evaluate = {"examples": args.adversarial_examples}  # the device protocol's threats: both families, both budgets
    if args.attacks:
        evaluate["attacks"] = args.attacks
    return config_from_mapping({
        "data": data, "model": model, "algorithm": "robust_student", "rounds": 0, "max_clients": n, "seed": 0,
        "personalize": {"epochs": args.personalize_epochs, "batch_size": 8, "engine": args.personalize_engine},
        "evaluate": evaluate,
        "simulation": engine,
    })


def in_process_devices(config, state_dir: Path) -> tuple[Any, Any, Any, Any, Callable[[int], ClientCall]]:
    """What the ClientApp's evaluate handler is given, built in this process without Flower: the
    algorithm, data, tokenizer, starting model and each device's call (its own copy of the model,
    state kept under ``state_dir``), for fedrobust.federated.device_eval.evaluate_cohort."""
    algorithm = build_algorithm(config.algorithm_name, config.algorithm_params)
    dataset = worker_cache.federated_dataset(config.data)
    tokenizer = worker_cache.tokenizer_for(config.model)
    model = worker_cache.initial_model(config.model, config.init, config.seed)

    def device_call(device: int) -> ClientCall:
        return ClientCall(config=config, partition_id=device, data=dataset.client(device), tokenizer=tokenizer,
                          model=copy.deepcopy(model), server_round=1,
                          state=ClientStateStore(str(state_dir), f"{device:06d}"))

    return algorithm, dataset, tokenizer, model, device_call


def plain_loop(config, run_dir: Path, devices: list[int], threads: int | None = None) -> tuple[float, dict[int, dict], dict[int, str]]:
    """The per-device work of the evaluate handler, one device after another, in this process with
    torch on ``threads`` threads (default: every core): (seconds, metrics per device, why each
    failed device failed)."""
    torch.set_num_threads(threads or psutil.cpu_count())
    algorithm, dataset, tokenizer, model, device_call = in_process_devices(config, run_dir)
    results, failed = {}, {}
    started = time.perf_counter()
    for device in devices:  # each device alone: no pooled attacks, a stack of one for personalization
        measured, crashed = evaluate_cohort(algorithm, config, [device], model, tokenizer, dataset, 1, device_call)
        results.update(measured)
        failed.update({d: f"{type(exc).__name__}: {exc}" for d, exc in crashed.items()})
    return time.perf_counter() - started, results, failed


def same_as_simulation(run_dir: Path, results: dict[int, dict]) -> bool:
    with open(run_dir / "clients.csv") as handle:
        rows = {(int(r["partition_id"]), r["phase"]): r for r in csv.DictReader(handle)}
    for device, metrics in results.items():
        for phase in ("global", "personalized"):
            row = rows.get((device, phase))
            if row is None or any(not math.isclose(float(row[m]), float(metrics[f"{phase}/{m}"]), abs_tol=1e-9) for m in METRICS):
                return False
    return True


def measure(n: int, data: str, model: str, args: argparse.Namespace) -> dict:
    devices_per_node = args.devices_per_node or max(1, min(args.max_per_node, math.ceil(n / args.min_nodes)))
    config = sim_config(data, model, n, args, devices_per_node)
    run_dir = args.out / f"n{n}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    error = None
    with PeakMemory() as memory:
        started = time.perf_counter()
        try:
            simulate(config, run_dir)
        except FederationError as exc:  # too few devices done: still measured and reported, as a failure
            error = str(exc)
        wall_s = time.perf_counter() - started
    if error and not (run_dir / "summary.json").is_file():  # it failed before evaluating anything
        raise FederationError(error)
    summary = json.loads((run_dir / "summary.json").read_text())  # written also when the evaluation fell short
    loop_devices = list(range(min(n, args.plain_loop_devices or n)))
    loop_s, results, loop_failed = plain_loop(config, run_dir / "plain_loop_state", loop_devices, args.plain_loop_threads)
    loop_full_s = loop_s * n / len(loop_devices)
    failures = summary["failures"]["count"]
    return {
        "n": n, "devices_per_node": devices_per_node, "nodes": math.ceil(n / devices_per_node),
        "clients_evaluated": summary["clients_evaluated"], "failures": failures,
        "failure_reasons": summary["failures"].get("reasons", {}), "plain_loop_failures": len(loop_failed),
        **({"error": error} if error else {}),
        "wall_s": round(wall_s, 2), "per_device_ms": round(1000 * wall_s / n, 2),
        "peak_rss_gib": round(memory.peak / 2**30, 3),
        "plain_loop_devices": len(loop_devices), "plain_loop_threads": torch.get_num_threads(), "plain_loop_s": round(loop_full_s, 2),
        "plain_loop_per_device_ms": round(1000 * loop_s / len(loop_devices), 2),
        "plain_loop_ratio": round(wall_s / loop_full_s, 3),
        "identical": same_as_simulation(run_dir, results) if failures == 0 and not loop_failed else "n/a",
        "personalized_natural_mean": summary["personalized"]["natural_acc"].get("mean"),
        "personalized_adversarial_mean": summary["personalized"]["adversarial_acc"].get("mean"),
        "adversarial_examples_per_device": args.adversarial_examples,
        "cpus": psutil.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "scale_benchmark")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "scale.yaml")
    parser.add_argument("--study", type=Path, default=None,
                        help="folder whose study/ caches the data and student stages (default: --out; e.g. runs/scale_benchmark to time into another --out without making them again)")
    parser.add_argument("--devices-per-node", type=int, default=None,
                        help="fixed cohort size (1 = one device per Flower node); default: N / --min-nodes, at most --max-per-node")
    parser.add_argument("--min-nodes", type=int, default=8)
    parser.add_argument("--max-per-node", type=int, default=250)
    parser.add_argument("--adversarial-examples", type=int, default=None, help="texts attacked per device (default: all)")
    parser.add_argument("--attacks", nargs="+", default=None,
                        help="attack names instead of the protocol's two families at 10%% and 25%% of words")
    parser.add_argument("--personalize-epochs", type=int, default=2)
    parser.add_argument("--personalize-engine", choices=("per_device", "stacked"), default="stacked",
                        help="how a cohort is personalized (stacked: together, see README); both sides use it")
    parser.add_argument("--plain-loop-devices", type=int, default=None,
                        help="time the loop on the first K devices only (default: all N)")
    parser.add_argument("--plain-loop-threads", type=int, default=None,
                        help="torch threads of the plain loop (default: every core; on 2 cores 1 thread ran this "
                             "workload 3x faster than 2)")
    parser.add_argument("--ray-address", default=None, help="an existing Ray cluster, e.g. 127.0.0.1:6379")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data, model = study_artifacts(args.study or args.out, args.config)
    failed_sizes = []
    with open(args.out / "results.jsonl", "a") as log:
        for n in args.sizes:
            result = measure(n, data, model, args)
            line = json.dumps(result)
            print(line, flush=True)
            log.write(line + "\n")
            if result["failures"] or result["plain_loop_failures"]:
                failed_sizes.append(n)
    if failed_sizes:
        print(f"devices failed at N = {', '.join(map(str, failed_sizes))}; see failure_reasons", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
