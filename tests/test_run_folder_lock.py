"""Every writer of a run folder (run, simulate, search, search-test, search-final, data prepare) holds its lock; a
second writer is refused in one line naming the holder's command and pid, and the folder keeps the
first writer's files."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fedrobust.cli.main import main as cli_main
from fedrobust.errors import ConfigError
from fedrobust.pipeline.lock import LOCK_FILE, run_folder_lock, sibling_lock_path
from tests.data_helpers import synthetic_rows, write_csv
from tests.federated_helpers import make_federation


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE}


def _simulate_argv(tmp_path: Path, out: Path) -> list[str]:
    config = tmp_path / "simulate.yaml"
    config.write_text(yaml.safe_dump({"data": str(tmp_path / "data"), "model": str(tmp_path / "student"),
                                      "algorithm": "fedavg_ft", "rounds": 1}))
    return ["simulate", "--config", str(config), "--out", str(out)]


def _search_argv(tmp_path: Path, out: Path) -> list[str]:
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"data": "unused", "teacher": "unused",
                                                        "student": {"name": "prado", "dim": 8},
                                                        "objectives": {"ce": {"weight": 1.0}}}))
    (tmp_path / "search.yaml").write_text(yaml.safe_dump({
        "distill": {"extends": "base.yaml"}, "space": {"prado": {"dim": [8, 16]}}, "candidates": 1}))
    return ["search", "--config", str(tmp_path / "search.yaml"), "--out", str(out)]


def _prepare_argv(tmp_path: Path, out: Path) -> list[str]:
    source = write_csv(tmp_path / "rows.csv", synthetic_rows(n=120, num_owners=4))
    return ["data", "prepare", "--source", f"csv:{source}", "--text-column", "review", "--label-column", "stars",
            "--owner-column", "who", "--min-samples", "5", "--out", str(out), "--overwrite"]


# command, its argv, the lock file the command takes (data prepare's lies beside --out)
WRITERS = {
    "fedrobust simulate": (_simulate_argv, lambda out: out / LOCK_FILE),
    "fedrobust search": (_search_argv, lambda out: out / LOCK_FILE),
    "fedrobust search-test": (lambda tmp_path, out: ["search-test", str(out)], lambda out: out / LOCK_FILE),
    "fedrobust search-final": (lambda tmp_path, out: ["search-final", str(out)], lambda out: out / LOCK_FILE),
    "fedrobust data prepare": (_prepare_argv, sibling_lock_path),
}


@pytest.mark.parametrize("command", list(WRITERS))
def test_a_second_writer_is_refused_with_the_holders_pid_and_the_folder_is_kept(tmp_path, capsys, command):
    make_argv, lock_path = WRITERS[command]
    out = tmp_path / "out"
    out.mkdir()
    (out / "clients.csv").write_text("the first run's results\n")
    (out / "search_config.yaml").write_text("evaluation_fingerprint: first\n")
    before = _snapshot(out)
    argv = make_argv(tmp_path, out)
    with run_folder_lock(out, command, lock_path=lock_path(out)):  # the first run, still running
        assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"fedrobust {argv[0]}")
    assert f"{out} is in use by {command} (pid {os.getpid()})" in err
    assert _snapshot(out) == before


HOLD = """
import sys, time
from pathlib import Path
from fedrobust.pipeline.lock import run_folder_lock
with run_folder_lock(Path(sys.argv[1]), "fedrobust simulate"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_lock_held_by_another_process_names_that_process(tmp_path, capsys):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert "fedrobust simulate" in (out / LOCK_FILE).read_text()
        assert cli_main(_simulate_argv(tmp_path, out)) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip()
    assert f"is in use by fedrobust simulate (pid {holder.pid}); wait for it or choose another --out" in err
    assert (out / LOCK_FILE).read_text() in ("", f"fedrobust simulate (pid {holder.pid})")  # killed: left as it was


def test_the_lock_names_its_holder_while_held_and_nests_only_on_other_folders(tmp_path):
    run_dir = tmp_path / "run"
    with run_folder_lock(run_dir, "fedrobust run"):
        assert (run_dir / LOCK_FILE).read_text() == f"fedrobust run (pid {os.getpid()})"
        # `fedrobust run`'s stages write into stage folders inside the run folder: their locks are other files
        with run_folder_lock(run_dir / "stages" / "federated-fedavg" / "abc", "fedrobust simulate"):
            pass
        with pytest.raises(ConfigError, match=f"in use by fedrobust run \\(pid {os.getpid()}\\)"):
            with run_folder_lock(run_dir, "fedrobust simulate"):  # the same folder twice, even in one process
                pass
    assert (run_dir / LOCK_FILE).read_text() == ""
    with run_folder_lock(run_dir, "fedrobust simulate"):  # released: the next writer gets it
        pass


def test_search_test_on_a_missing_folder_creates_nothing(tmp_path, capsys):
    assert cli_main(["search-test", str(tmp_path / "missing")]) == 2
    assert "missing is not a folder" in capsys.readouterr().err and not (tmp_path / "missing").exists()


@pytest.mark.slow  # two real simulations on Ray
def test_two_real_simulate_runs_on_one_folder(tmp_path):
    make_federation(tmp_path)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "fedrobust.cli.main", *_simulate_argv(tmp_path, out)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and first.poll() is None and not (
            (out / LOCK_FILE).is_file() and (out / LOCK_FILE).read_text()):
        time.sleep(0.05)
    second = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert second.returncode == 2 and "Traceback" not in second.stderr
    assert second.stderr.strip() == (f"fedrobust simulate: error: {out} is in use by fedrobust simulate "
                                     f"(pid {first.pid}); wait for it or choose another --out")
    assert (out / "clients.csv").is_file() and (out / "summary.json").is_file()
