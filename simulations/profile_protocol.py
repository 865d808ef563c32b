"""Where the time of the federated evaluation protocol goes: the final phase (global model measured,
personalized, measured again: natural accuracy and every threat of the device protocol) of the
first K devices of `configs/scale.yaml`, profiled in this process as one simulation worker runs it
(torch on one thread, the devices as cohorts of --cohort), then the same K devices through Flower's
simulation engine for the orchestration's share.

    .venv/bin/python simulations/profile_protocol.py --devices 400 --out runs/profile_protocol

Prints one JSON line and a table: seconds per phase (cumulative time of the functions that do each
phase: the global model's attacks, personalization, the personalized model's attacks, natural
accuracy, data and model copies), seconds per kind of work (cProfile's own time of each function,
grouped by where it lives: torch kernels, the attack search's Python, tokenization and data
handling, model copies, the rest), and the simulation's wall time against the in-process work: with
W workers the Flower/Ray share is 1 - work / (W x wall). ``--per-device`` measures the devices one
by one as the plain loop does (no pooled global-phase attacks).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "simulations"))

from scale_benchmark import PeakMemory, in_process_devices, study_artifacts  # noqa: E402

from fedrobust.federated.config import config_from_mapping  # noqa: E402
from fedrobust.federated.device_eval import evaluate_cohort  # noqa: E402
from fedrobust.federated.simulate import simulate  # noqa: E402

# phase -> functions whose cumulative time is that phase (module suffix, function name)
PHASES = {
    "global attacks (pooled)": [("federated/device_eval.py", "cohort_global_attacks")],
    "attacks (per device)": [("evaluation/measure.py", "attack_metrics")],
    "personalization": [("federated/device_eval.py", "cohort_personalized_models"),
                        ("federated/algorithms/base.py", "personalized_model"),
                        ("federated/algorithms/fedrep.py", "personalized_model")],
    "natural accuracy": [("evaluation/measure.py", "natural_metrics")],
    "device set-up (data, model copy)": [("federated/client_app.py", "device_call"),
                                         ("simulations/scale_benchmark.py", "device_call")],
}
KINDS = ("torch kernels", "attack search (Python, numpy)", "tokenization and data", "model copies", "other")


def kind_of(filename: str, name: str) -> str:
    """Where a function's own time belongs."""
    where = f"{filename}:{name}"
    if "torch" in where:
        return "torch kernels"
    if "copy.py" in filename or "deepcopy" in name:
        return "model copies"
    if any(part in where for part in ("/attacks/", "numpy", "editdistance", "nltk", "wordnet")):
        return "attack search (Python, numpy)"
    if any(part in where for part in ("tokeniz", "/data/", "datasets", "pyarrow", "transformers")):
        return "tokenization and data"
    return "other"


def sim_mapping(data: str, model: str, args: argparse.Namespace, devices_per_node: int) -> dict:
    return {"data": data, "model": model, "algorithm": "robust_student", "rounds": 0, "max_clients": args.devices,
            "seed": 0, "personalize": {"epochs": args.personalize_epochs, "batch_size": 8, "engine": args.personalize_engine},
            "evaluate": {"examples": None},  # the device protocol: every test text, both attack families
            "simulation": {"devices_per_node": devices_per_node, "num_cpus_per_client": 1.0}}


def work_in_process(config, args: argparse.Namespace, out: Path) -> tuple[float, pstats.Stats]:
    """The evaluate handler's work for the K devices, cohort after cohort, under cProfile."""
    torch.set_num_threads(1)  # as in a simulation worker
    algorithm, dataset, tokenizer, model, device_call = in_process_devices(config, out / "state")
    devices = list(range(args.devices))
    size = 1 if args.per_device else args.cohort
    cohorts = [devices[i:i + size] for i in range(0, len(devices), size)]
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for cohort in cohorts:
        _, failed = evaluate_cohort(algorithm, config, cohort, model, tokenizer, dataset, 1, device_call)
        if failed:
            raise next(iter(failed.values()))
    profiler.disable()
    return time.perf_counter() - started, pstats.Stats(profiler)


def phase_seconds(stats: pstats.Stats) -> dict[str, float]:
    seconds = dict.fromkeys(PHASES, 0.0)
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for phase, functions in PHASES.items():
            if any(filename.endswith(suffix) and name == function for suffix, function in functions):
                seconds[phase] += cumulative
    return seconds


def kind_seconds(stats: pstats.Stats) -> dict[str, float]:
    seconds = dict.fromkeys(KINDS, 0.0)
    for (filename, _, name), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        seconds[kind_of(filename, name)] += own
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=400)
    parser.add_argument("--cohort", type=int, default=200, help="devices per Flower node (and per pooled batch)")
    parser.add_argument("--personalize-epochs", type=int, default=2)
    parser.add_argument("--per-device", action="store_true",
                        help="each device a cohort of one: no pooled attacks, no stacks (the plain loop's way)")
    parser.add_argument("--personalize-engine", choices=("per_device", "stacked"), default="stacked")
    parser.add_argument("--no-simulation", action="store_true", help="profile the in-process work only")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "scale.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "profile_protocol")
    parser.add_argument("--study", type=Path, default=ROOT / "runs" / "scale_benchmark",
                        help="where scale_benchmark keeps the config's stages (OUT/study), shared with it")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data, model = study_artifacts(args.study, args.config)
    config = config_from_mapping(sim_mapping(data, model, args, args.cohort))
    work_s, stats = work_in_process(config, args, args.out)
    stats.dump_stats(str(args.out / ("per_device.prof" if args.per_device else "cohort.prof")))
    result = {"devices": args.devices, "cohort": args.cohort, "pooled_global_attacks": not args.per_device,
              "work_s": round(work_s, 2), "work_ms_per_device": round(1000 * work_s / args.devices, 2),
              "phases_s": {k: round(v, 2) for k, v in phase_seconds(stats).items()},
              "kinds_s": {k: round(v, 2) for k, v in kind_seconds(stats).items()}}
    if not args.no_simulation:
        workers = max(1, int(torch.multiprocessing.cpu_count()))
        run_dir = args.out / "simulation"
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
        nodes_config = config_from_mapping(sim_mapping(data, model, args, min(args.cohort, -(-args.devices // workers))))
        with PeakMemory() as memory:
            started = time.perf_counter()
            simulate(nodes_config, run_dir)
            wall = time.perf_counter() - started
        result.update({"simulation_wall_s": round(wall, 2), "workers": workers, "peak_rss_gib": round(memory.peak / 2**30, 3),
                       "flower_ray_share": round(max(0.0, 1 - work_s / (workers * wall)), 3)})
    print(json.dumps(result), flush=True)
    total = sum(result["kinds_s"].values()) or 1.0
    print("\n| kind of work | s | share |\n|---|---|---|")
    for kind, seconds in result["kinds_s"].items():
        print(f"| {kind} | {seconds:.1f} | {seconds / total:.0%} |")
    print("\n| phase | s | share of work |\n|---|---|---|")
    for phase, seconds in result["phases_s"].items():
        print(f"| {phase} | {seconds:.1f} | {seconds / work_s:.0%} |")
    with open(args.out / "results.jsonl", "a") as log:
        log.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
