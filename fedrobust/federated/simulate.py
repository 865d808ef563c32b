"""`fedrobust simulate`: the ServerApp and ClientApp on Flower's simulation engine (Ray).

Why `flwr.simulation.run_simulation`, which flwr 1.41 marks deprecated ("The `run_simulation`
function is deprecated and will be removed in a future version of Flower. Please use `flwr run` in
the CLI instead to run your simulation."): it is the only in-process way flwr 1.41 offers. The
supported path, `flwr run .`, builds the app bundle, starts a detached SuperLink daemon and runs
the apps in separate processes (`flwr.simulation.run_simulation_process` is that process's entry
point, fed by a SuperLink, not a Python API). `flwr run .` works with this project's apps and gives
the same clients.csv byte for byte (tests/test_flwr_run.py); switch to it when run_simulation goes.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

from fedrobust.errors import ConfigError, FedrobustError
from fedrobust.federated import worker_cache
from fedrobust.federated.checkpoint import Checkpointer
from fedrobust.federated.client_app import app as client_app
from fedrobust.federated.cohorts import num_nodes
from fedrobust.federated.config import SimulationConfig
from fedrobust.federated.device_explanations import prepare_teacher_attributions
from fedrobust.federated.server_app import SUMMARY, make_server_app
from fedrobust.files import write_text_atomically


class SimulationFailed(FedrobustError):
    pass


def backend_config(config: SimulationConfig) -> dict[str, Any]:
    engine = config.simulation
    init_args: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if engine.ray_address:
        init_args = {"address": engine.ray_address}
    return {
        "client_resources": {"num_cpus": engine.num_cpus_per_client, "num_gpus": engine.num_gpus_per_client},
        "init_args": init_args,
    }


def check_inputs(config: SimulationConfig) -> int:
    """Fail on a bad data directory or model before Ray starts; returns the number of clients."""
    dataset = worker_cache.federated_dataset(config.data)
    worker_cache.tokenizer_for(config.model)
    if config.simulation.backend != "ray":
        raise ConfigError(f"config key simulation.backend: only 'ray' is supported, got {config.simulation.backend!r}")
    return min(len(dataset), config.max_clients or len(dataset))


def simulate(config: SimulationConfig, out: str | Path, verbose: bool = False,
             shared_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the federation into ``out`` (resuming what is there); ``shared_dir`` keeps what several
    runs can share, the teacher's attributions (fedrobust.federated.device_explanations)."""
    from flwr.simulation import run_simulation  # starts nothing, but imports Ray: only when a simulation runs

    out = Path(out)
    num_clients = check_inputs(config)
    Checkpointer(out, config.fingerprint()).resume()  # refuses a run directory of another config, before Ray starts
    # the teacher explains the evaluated texts once, here, so that a bad teacher fails before Ray starts
    prepare_teacher_attributions(config, worker_cache.federated_dataset(config.data), range(num_clients),
                                 worker_cache.tokenizer_for(config.model), out, shared_dir)
    per_node = config.simulation.devices_per_node
    nodes = f" ({num_nodes(num_clients, per_node)} Flower nodes of {per_node})" if per_node > 1 else ""
    print(f"simulating {config.label} on {num_clients} devices{nodes}, {config.rounds} rounds -> {out}", flush=True)
    (out / SUMMARY).unlink(missing_ok=True)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    if not verbose:  # run_simulation's deprecation notice and per-round chatter
        logging.getLogger("flwr").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        run_simulation(
            server_app=make_server_app(config, out),
            client_app=client_app,
            num_supernodes=num_nodes(num_clients, config.simulation.devices_per_node),
            backend_config=backend_config(config),
            verbose_logging=verbose,
        )
    summary_path = out / SUMMARY
    if not summary_path.is_file():
        raise SimulationFailed(f"the simulation stopped before writing {summary_path}; rerun with -v to see Flower's log "
                               f"(completed rounds are kept and the same command resumes)")
    summary = json.loads(summary_path.read_text())
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    write_text_atomically(summary_path, json.dumps(summary, indent=2) + "\n")
    return summary
