"""Training is bit-reproducible: the teacher and the student come out byte for byte the same from
two fresh processes whose default torch thread counts differ (as on a loaded or a bigger machine),
because each training stage runs with the thread count of its config. The controls show the check
can fail: a different configured thread count gives the teacher different weights, and the student's
stage records the configured count (its tiny model's kernels give the same bytes at 1 and 2 threads
on some CPUs, e.g. this project's CI machine of 2026-11-28)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from fedrobust.cli.main import main as cli_main
from fedrobust.distill.teacher_pipeline import TeacherConfig, run_teacher
from fedrobust.seeding import TRAINING_THREADS, reproducible_torch
from tests.distill_helpers import prepare_tiny_reviews, save_hub_like_teacher

REPO = Path(__file__).resolve().parents[1]
TEACHER_FILES = ("model/hf/model.safetensors", "cache.safetensors")
STUDENT_FILES = ("student/model.safetensors", "student_int8/model.int8.safetensors")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reproducibility")
    data = prepare_tiny_reviews(root, reviews=160, users=8, public_fraction=0.5)
    hub = save_hub_like_teacher(root / "hub_teacher")
    teacher = root / "teacher"
    run_teacher(data, teacher, TeacherConfig(model=str(hub), epochs=1, lr=3e-3, max_length=16, latency_examples=2))
    distill_yaml = root / "distill.yaml"
    distill_yaml.write_text(yaml.safe_dump({
        "data": str(data), "teacher": str(teacher),
        # embedding rows x dim above torch's parallel grain (32768): gradient norms are summed per thread
        "student": {"name": "bigru_attention", "hidden": 32,
                    "embedding": {"kind": "pruned", "dim": 32, "num_embeddings": 2000}},
        "objectives": {"ce": {"weight": 1.0}, "kd": {"weight": 1.0, "temperature": 2.0},
                       "embedding_pgd": {"weight": 1.0, "epsilon": 0.1, "steps": 1}},
        "vocabulary": {"init_from_teacher": False},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.01},
        "eval": {"latency_examples": 2},
    }))
    return {"data": data, "hub": hub, "distill_yaml": distill_yaml}


def teacher_command(inputs: dict[str, Path], out: Path, threads: int | None) -> list[str]:
    command = ["teacher", "--data", str(inputs["data"]), "--out", str(out), "--model", str(inputs["hub"]),
               "--epochs", "1", "--lr", "3e-3", "--max-length", "16", "--latency-examples", "2"]
    return command + (["--threads", str(threads)] if threads is not None else [])


def distill_command(inputs: dict[str, Path], out: Path, threads: int | None) -> list[str]:
    command = ["distill", "--config", str(inputs["distill_yaml"]), "--out", str(out)]
    return command + (["--set", f"train.threads={threads}"] if threads is not None else [])


STAGES = {"teacher": (teacher_command, TEACHER_FILES), "distill": (distill_command, STUDENT_FILES)}


def run_fresh_process(command: list[str], process_threads: int) -> None:
    """`fedrobust COMMAND` in a new process whose torch defaults to ``process_threads`` threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(process_threads), "MKL_NUM_THREADS": str(process_threads)}
    done = subprocess.run([sys.executable, "-m", "fedrobust.cli.main", *command], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def digests(out: Path, files: tuple[str, ...]) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in files}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_training_is_bit_identical_across_processes_with_different_default_threads(stage, inputs, tmp_path):
    command, files = STAGES[stage]
    runs = {}
    for process_threads in (1, 3):  # neither is the configured default of 2
        out = tmp_path / f"process_threads_{process_threads}"
        run_fresh_process(command(inputs, out, threads=None), process_threads)
        runs[process_threads] = digests(out, files)
    assert runs[1] == runs[3]

    control = tmp_path / "configured_threads_1"
    assert cli_main(command(inputs, control, threads=1)) == 0
    if stage == "distill":  # the stage records the threads it trained with: the configured ones, not the process's
        recorded = [json.loads((tmp_path / f"process_threads_{t}" / "metrics.json").read_text())["torch_threads"]
                    for t in (1, 3)]
        assert recorded == [TRAINING_THREADS, TRAINING_THREADS]
        assert json.loads((control / "metrics.json").read_text())["torch_threads"] == 1
    else:
        # control: the thread count changes the teacher's weights, so the equality above is not trivial (the
        # tiny student's kernels are thread-invariant on some CPUs, hence its recorded count instead)
        assert digests(control, files)[files[0]] != runs[1][files[0]]


def test_reproducible_torch_pins_threads_and_deterministic_algorithms_then_restores_them():
    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    wanted = 3 if before[0] != 3 else 1
    with reproducible_torch(wanted):
        assert torch.get_num_threads() == wanted
        assert torch.are_deterministic_algorithms_enabled()
    assert (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()) == before
