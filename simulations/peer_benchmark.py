"""The same FedAvg workload run by fedrobust (Flower's simulation engine, cohort mode), by Apple's
pfl-research (its simulated backend and torch model wrapper) and by a plain single-process torch
loop, on the same cores.

Full size (the issue's measurement: 5 rounds of 1,000 devices each, for fedrobust, pfl in one
process, pfl in one process per core, and the plain loop):

    .venv/bin/python simulations/peer_benchmark.py --devices-per-round 1000 --out runs/peer_benchmark

Run it on a quiet machine. Torch's intra-op threads wait for each other at every small kernel, so a
2-thread process on 2 cores that something else also uses slows down many times (pfl's rounds took
50x longer while another benchmark ran); the plain loop and pfl's one-process run have 2 threads.
Small check (a few minutes, mostly fedrobust's Ray start and its final evaluation of all 10,000
devices): ``--devices-per-round 100 --rounds 2``, with ``--threads 1`` on a busy machine.

The workload. `configs/scale.yaml`'s data (airline_tweets over 10,000 devices with power-law sizes)
and its distilled student, made by the config's stages as simulations/scale_benchmark.py makes them
(cached in --study/study; --data and --model name other folders). Each of --rounds rounds (default:
the config's federated.rounds) samples --devices-per-round devices with fedrobust's seeded sampling
(fedrobust.federated.strategy.SeededSampling, the same devices for all three); each device trains a
copy of the global model on its training texts for the config's federated.local epochs, batch size
and learning rate with a fresh Adam (fedrobust.federated.local_training's optimizer), its batches
shuffled and its dropout drawn from the device's own seed (derive_seed(seed, "train", round,
device)); the server averages the devices' weights weighted by their training texts. All three
start from the student and run this exactly, so their final weights agree up to float rounding
(printed as max_abs_weight_diff against fedrobust's) and so do their accuracies.

- fedrobust: `fedrobust.federated.simulate` with algorithm fedavg, personalization off and natural
  accuracy only, --devices-per-node devices per Flower node (default: 8 nodes per core) and one Ray
  worker per core. Its round time is the server's (rounds.csv): sampling, messages, the devices'
  work, aggregation, the checkpoint and the public-split accuracy it logs after every round.
  Ray's start and the final per-device evaluation are outside it (total_wall_s has them).
- fedrobust_stacked: the same with ``local.engine: stacked`` (fedrobust.federated.stacked_rounds): each
  node trains its devices together, the same arithmetic (Adam per device on the same batches) in
  other kernels and with other dropout draws, so its weights differ from the others' by more than
  rounding and its accuracy must agree within the interval.
- pfl: pfl 0.6.0 as it comes: FederatedAveraging on a SimulatedBackend, PyTorchModel with
  ``local_optimizer_create=torch.optim.Adam`` (Adam steps every row of the embedding table, where
  fedrobust steps only the rows a device's texts reach: the same arithmetic, see
  fedrobust.models.compact_rows), central SGD at rate 1 (the new model is the weighted average),
  WeightByDatapoints. Ours are only the data plumbing pfl asks its users for: the user sampler
  (the sampled devices in order), the user dataset (the device's tokenized texts, batches shuffled
  with the device's seed), and the model's loss/metrics. pfl evaluates every user before and after
  training in its first round (iteration 0 always evaluates), so its first round is slower; the
  median over rounds leaves that out when there are 3 rounds or more. --pfl-processes > 1 runs it
  the way pfl spreads a simulation over cores (torchrun, processes with one torch thread each,
  gloo all-reduce; the line is labelled pfl_Nproc); 1 is one process with torch on every core.
  Default: both, 1 and one process per core.
- plain loop: one process, torch on every core; each round, device after device: load the global
  weights, train with fedrobust.federated.local_training.train_locally (the function fedrobust's
  devices run), add the weights times the device's training texts; then divide (float64).

Each framework runs in a fresh child process; its peak memory is the summed RSS of that child and
all its descendants (Ray's processes, torchrun's workers), sampled (scale_benchmark.PeakMemory,
less this parent's own RSS). For each it prints one JSON line: round_s (each round) and
round_s_median, per_device_ms (median round / devices per round), peak_rss_gib, the final global
model's accuracy on every device's test texts pooled with its 95% Wilson interval, and
max_abs_weight_diff from fedrobust's final weights (float rounding in the averages, which Adam's
normalized steps can enlarge in later rounds to a fraction of the learning rate for weights whose
gradients are near zero); then a markdown table with the student's accuracy before the rounds.
Lines are appended to OUT/results.jsonl; each framework's final weights are in OUT/<label>/.

Why pfl lives in its own virtual environment (.venv-peer, made by scripts/setup_peer.sh the first
time pfl runs) and not in an optional extra of pyproject.toml: `pip install --dry-run
"pfl[pytorch]==0.6.0"` in .venv would downgrade attrs 26.1 to 23.2 (dp-accounting pins attrs<24),
which the project's own packages run on. .venv-peer holds pfl and its pinned dependencies only and
reads everything else (torch, the same build; fedrobust itself) from .venv behind them, so the
three frameworks run the same torch. `bash scripts/setup.sh` is unchanged.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import psutil
import torch

# Each framework's imports are local to its functions: every child process loads its own framework
# only (Flower and Ray, or pfl), so its peak memory is that framework's, and pfl's child in .venv-peer
# imports nothing of Flower.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "simulations"))
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
FRAMEWORKS = ("fedrobust", "fedrobust_stacked", "pfl", "plain_loop")
FINAL = "final.safetensors"
RESULT = "result.json"
# pfl evaluates a user with batches of this size: larger than any device, so evaluation reads the
# device's texts in one piece and never draws from the training's shuffle
PFL_EVAL_BATCH = 2**31 - 1


@dataclass
class Workload:
    """Everything the three frameworks share, as the children read it from workload.json."""

    data: str
    model: str
    seed: int
    local_epochs: int
    lr: float
    batch_size: int
    samples: list[list[int]]  # each round's devices
    threads: int  # torch threads of the plain loop, and of pfl's processes together (fedrobust: a Ray worker per core)
    devices_per_node: int
    pfl_processes: int = 1

    @property
    def rounds(self) -> int:
        return len(self.samples)

    @classmethod
    def read(cls, path: Path) -> "Workload":
        return cls(**json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)))


def sampled_devices(num_devices: int, per_round: int, rounds: int, seed: int) -> list[list[int]]:
    """Each round's devices, as fedrobust's server samples them (fraction and minimum give exactly
    ``per_round``)."""
    from fedrobust.federated.strategy import SeededFedAvg

    strategy = SeededFedAvg(fraction_train=per_round / num_devices, min_train_nodes=per_round,
                            fraction_evaluate=0.0, seed=seed)
    strategy.devices_of = {0: list(range(num_devices))}
    return [strategy.sample_devices(r) for r in range(1, rounds + 1)]


def float_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights FedAvg averages: floating-point state (integer buffers are constants)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


# --- fedrobust -------------------------------------------------------------------------------------

def fedrobust_config(workload: Workload, num_devices: int, engine: str = "per_device"):
    from fedrobust.federated.config import config_from_mapping

    per_round = len(workload.samples[0])
    return config_from_mapping({
        "data": workload.data, "model": workload.model, "algorithm": "fedavg", "rounds": workload.rounds,
        "seed": workload.seed, "fraction_train": per_round / num_devices, "min_train_clients": per_round,
        "local": {"epochs": workload.local_epochs, "lr": workload.lr, "batch_size": workload.batch_size,
                  "engine": engine},
        "personalize": {"epochs": 0}, "evaluate": {"examples": 0},
        "simulation": {"devices_per_node": workload.devices_per_node, "num_cpus_per_client": 1.0},
    })


def run_fedrobust(workload: Workload, out: Path, engine: str = "per_device") -> tuple[list[float], dict[str, torch.Tensor], dict]:
    from safetensors.torch import load_file

    from fedrobust.data import FederatedDataset
    from fedrobust.federated.simulate import simulate

    num_devices = len(FederatedDataset.load(workload.data))
    run_dir = out / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    simulate(fedrobust_config(workload, num_devices, engine), run_dir)
    total = time.perf_counter() - started
    with open(run_dir / "rounds.csv") as handle:
        round_s = [float(row["wall_s"]) for row in csv.DictReader(handle)]
    final = load_file(str(run_dir / "checkpoints" / f"round_{workload.rounds:04d}.safetensors"))
    return round_s, final, {"total_wall_s": round(total, 2), "devices_per_node": workload.devices_per_node,
                            "nodes": math.ceil(num_devices / workload.devices_per_node)}


# --- plain loop ------------------------------------------------------------------------------------

def plain_fedavg_round(model, tokenizer, dataset, global_state: dict[str, torch.Tensor], devices: list[int],
                       server_round: int, settings, seed: int) -> dict[str, torch.Tensor]:
    """One FedAvg round, device after device: each trains ``global_state`` with fedrobust's local
    training function and seed; the mean weighted by training texts, summed in float64."""
    from fedrobust.federated.local_training import train_locally
    from fedrobust.seeding import derive_seed

    total = {k: torch.zeros_like(v, dtype=torch.float64) for k, v in global_state.items()}
    weight = 0
    for device in devices:
        client = dataset.client(device)
        model.load_state_dict(global_state, strict=False)
        train_locally(model, tokenizer, client.train_texts, client.train_labels, settings,
                      seed=derive_seed(seed, "train", server_round, device))
        state = model.state_dict()
        for key in total:
            total[key] += state[key].double() * client.n_train
        weight += client.n_train
    return {k: (total[k] / weight).to(v.dtype) for k, v in global_state.items()}


def plain_fedavg(workload: Workload) -> Iterator[tuple[float, dict[str, torch.Tensor]]]:
    """(seconds, global weights) after each round."""
    from fedrobust.data import FederatedDataset
    from fedrobust.federated.local_training import TrainSettings
    from fedrobust.models.io import load_model

    torch.set_num_threads(workload.threads)
    dataset = FederatedDataset.load(workload.data)
    model, tokenizer = load_model(workload.model)
    settings = TrainSettings(workload.local_epochs, workload.lr, workload.batch_size)
    state = float_state(model)
    for server_round, devices in enumerate(workload.samples, start=1):
        started = time.perf_counter()
        state = plain_fedavg_round(model, tokenizer, dataset, state, devices, server_round, settings, workload.seed)
        yield time.perf_counter() - started, state


def run_plain_loop(workload: Workload, out: Path) -> tuple[list[float], dict[str, torch.Tensor], dict]:
    round_s, state = [], {}
    for seconds, state in plain_fedavg(workload):
        round_s.append(seconds)
    return round_s, state, {}


# --- pfl (runs inside .venv-peer) ------------------------------------------------------------------

def pfl_fedavg(workload: Workload) -> tuple[list[float], dict[str, torch.Tensor], int]:
    """pfl's FederatedAveraging over the workload's rounds: (seconds per round, final weights, rank)."""
    import torch.nn.functional as F
    from pfl.aggregate.simulate import SimulatedBackend
    from pfl.aggregate.weighting import WeightByDatapoints
    from pfl.algorithm import FederatedAveraging, NNAlgorithmParams
    from pfl.callback.base import TrainingProcessCallback
    from pfl.data.dataset import Dataset
    from pfl.data.federated_dataset import FederatedDataset as PflFederatedDataset
    from pfl.hyperparam import NNEvalHyperParams, NNTrainHyperParams
    from pfl.internal.ops.selector import get_framework_module
    from pfl.metrics import Metrics, Weighted
    from pfl.model.pytorch import PyTorchModel

    from fedrobust.data import FederatedDataset
    from fedrobust.models.io import load_model
    from fedrobust.seeding import derive_seed

    torch.set_num_threads(max(1, workload.threads // workload.pfl_processes))
    dataset = FederatedDataset.load(workload.data)
    student, tokenizer = load_model(workload.model)

    class PflStudent(torch.nn.Module):
        """The student with the two methods pfl's PyTorchModel calls."""

        def __init__(self) -> None:
            super().__init__()
            self.student = student

        def forward(self, ids, mask):
            return self.student(ids, mask)

        def loss(self, ids, mask, y):
            self.train()
            return F.cross_entropy(self.student(ids, mask), y)

        @torch.no_grad()
        def metrics(self, ids, mask, y):
            self.eval()
            logits = self.student(ids, mask)
            return {"loss": Weighted(float(F.cross_entropy(logits, y, reduction="sum")), len(y))}

    class DeviceDataset(Dataset):
        """A device's tokenized training texts; training batches come in the order the device's seed
        shuffles them each epoch, as fedrobust's local training takes them."""

        def __init__(self, raw_data, user_id, seed: int) -> None:
            super().__init__(raw_data, user_id=user_id)
            self.generator = torch.Generator().manual_seed(seed)

        def iter(self, batch_size):  # noqa: A003 (pfl's name)
            if batch_size != workload.batch_size:  # evaluation: all in one piece
                yield from super().iter(batch_size)
                return
            order = torch.randperm(len(self), generator=self.generator)
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                yield [tensor[index] for tensor in self.raw_data]

    def make_dataset(user: tuple[int, int]) -> Dataset:
        server_round, device = user
        seed = derive_seed(workload.seed, "train", server_round, device)
        torch.manual_seed(seed)  # the device's dropout, as fedrobust draws it
        client = dataset.client(device)
        encoded = tokenizer(list(client.train_texts))
        labels = torch.as_tensor(list(client.train_labels), dtype=torch.long)
        return DeviceDataset([encoded["input_ids"], encoded["attention_mask"], labels], user, seed)

    schedule = iter([(r, d) for r, devices in enumerate(workload.samples, start=1) for d in devices])
    federated = PflFederatedDataset(make_dataset, lambda: next(schedule))
    module = PflStudent()
    model = PyTorchModel(module, local_optimizer_create=torch.optim.Adam,
                         central_optimizer=torch.optim.SGD(module.parameters(), lr=1.0))

    class RoundClock(TrainingProcessCallback):
        def on_train_begin(self, *, model) -> Metrics:
            self.last, self.round_s = time.perf_counter(), []
            return Metrics()

        def after_central_iteration(self, aggregate_metrics, model, *, central_iteration):
            now = time.perf_counter()
            self.round_s.append(now - self.last)
            self.last = now
            return False, Metrics()

    clock = RoundClock()
    FederatedAveraging().run(
        algorithm_params=NNAlgorithmParams(central_num_iterations=workload.rounds,
                                           evaluation_frequency=workload.rounds + 1,
                                           train_cohort_size=len(workload.samples[0]), val_cohort_size=0),
        backend=SimulatedBackend(training_data=federated, val_data=None, postprocessors=[WeightByDatapoints()]),
        model=model,
        model_train_params=NNTrainHyperParams(local_num_epochs=workload.local_epochs,
                                              local_learning_rate=workload.lr, local_batch_size=workload.batch_size),
        model_eval_params=NNEvalHyperParams(local_batch_size=PFL_EVAL_BATCH),
        callbacks=[clock],
        send_metrics_to_platform=False,
    )
    return clock.round_s, float_state(student), get_framework_module().distributed.global_rank


def run_pfl(workload: Workload, out: Path) -> tuple[list[float], dict[str, torch.Tensor], dict] | None:
    from importlib.metadata import version

    round_s, state, rank = pfl_fedavg(workload)
    if rank != 0:
        return None
    return round_s, state, {"pfl_version": version("pfl"), "pfl_processes": workload.pfl_processes}


# --- the parent: one child per framework, then the comparison --------------------------------------

RUNNERS = {"fedrobust": run_fedrobust, "fedrobust_stacked": functools.partial(run_fedrobust, engine="stacked"),
           "pfl": run_pfl, "plain_loop": run_plain_loop}


def child_main(framework: str, workload_path: str, out: str) -> None:
    from safetensors.torch import save_file

    result = RUNNERS[framework](Workload.read(Path(workload_path)), Path(out))
    if result is None:  # a pfl worker other than the first
        return
    round_s, state, extra = result
    save_file({k: v.contiguous() for k, v in state.items()}, str(Path(out) / FINAL))
    (Path(out) / RESULT).write_text(json.dumps({"round_s": round_s, **extra}))


def ensure_peer_venv() -> None:
    """.venv-peer with pfl and fedrobust importable; made (or mended) by scripts/setup_peer.sh."""
    check = [str(PEER_PYTHON), "-c", "import pfl.model.pytorch, fedrobust.models.io"]
    if not PEER_PYTHON.exists() or subprocess.run(check, capture_output=True).returncode:
        subprocess.run(["bash", str(ROOT / "scripts" / "setup_peer.sh")], check=True)


def child_command(framework: str, workload: Workload, workload_path: Path, out: Path) -> list[str]:
    tail = [str(Path(__file__).resolve()), "--child", framework, str(workload_path), str(out)]
    if framework != "pfl":
        return [sys.executable, *tail]
    if workload.pfl_processes == 1:
        return [str(PEER_PYTHON), *tail]
    return [str(PEER_PYTHON), "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={workload.pfl_processes}", *tail]


def planned_runs(frameworks: list[str], pfl_processes: list[int]) -> list[tuple[str, str, int]]:
    """(label, framework, pfl processes) of each run: pfl once per --pfl-processes value."""
    runs = []
    for framework in frameworks:
        for processes in (pfl_processes if framework == "pfl" else [1]):
            label = f"pfl_{processes}proc" if framework == "pfl" and processes > 1 else framework
            runs.append((label, framework, processes))
    return runs


def run_child(label: str, framework: str, workload: Workload, out_root: Path) -> dict:
    """Run one framework in a fresh process; its result with the peak RSS of its process tree."""
    from scale_benchmark import PeakMemory

    out = out_root / label
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if framework == "pfl":
        ensure_peer_venv()
    workload_path = out / "workload.json"
    workload.write(workload_path)
    own_rss = psutil.Process().memory_info().rss  # this parent only waits meanwhile
    # pfl's all-reduce uses a name torch deprecates: one warning per process per round
    env = {**os.environ, "OMP_NUM_THREADS": str(workload.threads), "PYTHONWARNINGS": "ignore::FutureWarning"}
    with PeakMemory(interval_s=0.2) as memory:
        finished = subprocess.run(child_command(framework, workload, workload_path, out), env=env)
    if finished.returncode:
        raise SystemExit(f"{label} failed with status {finished.returncode} (its output is above)")
    result = json.loads((out / RESULT).read_text())
    result["peak_rss_gib"] = round(max(0, memory.peak - own_rss) / 2**30, 3)
    return result


def pooled_test_texts(dataset) -> tuple[list[str], list[int]]:
    """Every device's test texts and labels, together (read once, for the final evaluation)."""
    texts, labels = [], []
    for device in range(len(dataset)):
        client = dataset.client(device)
        texts += list(client.test_texts)
        labels += list(client.test_labels)
    return texts, labels


def pooled_accuracy(model, tokenizer, texts: list[str], labels: list[int]) -> dict:
    """The model's accuracy on the pooled test texts, with its 95% Wilson interval."""
    from fedrobust.evaluation.confidence import wilson_interval
    from fedrobust.evaluation.measure import predict

    correct = int((predict(model, tokenizer, texts) == torch.as_tensor(labels)).sum())
    low, high = wilson_interval(correct, len(texts))
    return {"final_accuracy": round(correct / len(texts), 4), "accuracy_ci95": [round(low, 4), round(high, 4)],
            "test_texts": len(texts)}


def max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def summary_line(framework: str, result: dict, workload: Workload, accuracy: dict, difference: float | None) -> dict:
    round_s = result.pop("round_s")
    median = statistics.median(round_s)
    per_round = len(workload.samples[0])
    return {"framework": framework, "rounds": len(round_s), "devices_per_round": per_round,
            "local_epochs": workload.local_epochs, "batch_size": workload.batch_size, "lr": workload.lr,
            "round_s": [round(s, 2) for s in round_s], "round_s_median": round(median, 3),
            "per_device_ms": round(1000 * median / per_round, 2), **result, **accuracy,
            "max_abs_weight_diff": None if difference is None else float(f"{difference:.3g}"),
            "cpus": psutil.cpu_count()}


def markdown_table(lines: list[dict], start_accuracy: dict) -> str:
    rows = ["| framework | s per round (median) | ms per device | peak memory | final accuracy (95% CI) "
            "| max weight diff vs fedrobust |", "|---|---|---|---|---|---|"]
    for line in lines:
        low, high = line["accuracy_ci95"]
        diff = "-" if line["max_abs_weight_diff"] is None else f"{line['max_abs_weight_diff']:.1e}"
        rows.append(f"| {line['framework']} | {line['round_s_median']:.2f} | {line['per_device_ms']:.2f} "
                    f"| {line['peak_rss_gib']:.2f} GiB | {line['final_accuracy']:.3f} ({low:.3f}-{high:.3f}) | {diff} |")
    low, high = start_accuracy["accuracy_ci95"]
    rows.append(f"| (start: the student) | | | | {start_accuracy['final_accuracy']:.3f} ({low:.3f}-{high:.3f}) | |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices-per-round", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=None, help="default: the config's federated.rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--devices-per-node", type=int, default=None,
                        help="fedrobust's devices per Flower node (default: 8 nodes per core)")
    parser.add_argument("--pfl-processes", type=int, nargs="+", default=None,
                        help="pfl worker processes (torchrun, one torch thread each) sharing the cores, one run per "
                             "value; 1: one process, torch on every core (default: 1 and the number of cores)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the plain loop and of pfl in all (default: the number of cores)")
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "scale.yaml")
    parser.add_argument("--study", type=Path, default=ROOT / "runs" / "scale_benchmark",
                        help="where the config's stages are kept (STUDY/study, shared with scale_benchmark)")
    parser.add_argument("--data", default=None, help="a prepared data folder instead of the config's")
    parser.add_argument("--model", default=None, help="a student folder instead of the config's")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "peer_benchmark")
    args = parser.parse_args(argv)
    cpus = psutil.cpu_count()
    args.threads = args.threads or cpus
    args.pfl_processes = args.pfl_processes or sorted({1, cpus})
    if min(args.devices_per_round, args.rounds or 1, args.threads, *args.pfl_processes) < 1:
        parser.error("--devices-per-round, --rounds, --threads and --pfl-processes must be at least 1")
    if (args.data is None) != (args.model is None):
        parser.error("--data and --model go together")
    return args


def build_workload(args: argparse.Namespace) -> tuple[Workload, object]:
    from fedrobust.data import FederatedDataset
    from fedrobust.pipeline import load_run_config

    run_config = load_run_config(args.config, {"out": str(args.study / "study")})
    if args.data is None:
        from scale_benchmark import study_artifacts

        args.data, args.model = study_artifacts(args.study, args.config)
    dataset = FederatedDataset.load(args.data)
    if args.devices_per_round > len(dataset):
        raise SystemExit(f"--devices-per-round {args.devices_per_round} exceeds the {len(dataset)} devices")
    cpus = psutil.cpu_count()
    local = run_config.federated.local
    rounds = args.rounds or run_config.federated.rounds
    workload = Workload(
        data=str(args.data), model=str(args.model), seed=args.seed, local_epochs=local.epochs, lr=local.lr,
        batch_size=local.batch_size, samples=sampled_devices(len(dataset), args.devices_per_round, rounds, args.seed),
        threads=args.threads, devices_per_node=args.devices_per_node or math.ceil(len(dataset) / (8 * cpus)))
    return workload, dataset


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child_main(*argv[1:4])
        return
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    workload, dataset = build_workload(args)
    results = {label: run_child(label, framework, replace(workload, pfl_processes=processes), args.out)
               for label, framework, processes in planned_runs(args.frameworks, args.pfl_processes)}

    from safetensors.torch import load_file

    from fedrobust.models.io import load_model

    torch.set_num_threads(workload.threads)
    model, tokenizer = load_model(workload.model)
    test = pooled_test_texts(dataset)
    start = pooled_accuracy(model, tokenizer, *test)
    finals = {name: load_file(str(args.out / name / FINAL)) for name in results}
    lines = []
    for name, result in results.items():
        model.load_state_dict(finals[name], strict=False)
        reference = finals.get("fedrobust")
        difference = max_abs_difference(finals[name], reference) if reference is not None else None
        line = summary_line(name, result, workload, pooled_accuracy(model, tokenizer, *test), difference)
        lines.append(line)
        print(json.dumps(line), flush=True)
    with open(args.out / "results.jsonl", "a") as log:
        for line in lines:
            log.write(json.dumps(line) + "\n")
    print(f"\n{len(workload.samples[0])} devices per round, {workload.rounds} rounds, {workload.local_epochs} local "
          f"epoch(s), batch {workload.batch_size}, lr {workload.lr}, {psutil.cpu_count()} cores\n")
    print(markdown_table(lines, start))


if __name__ == "__main__":
    main()
