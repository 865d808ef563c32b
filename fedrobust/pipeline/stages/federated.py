"""Stage `federated-<label>` (``federated-fedavg_ft``, ``federated-fedavg_ft@public``): Flower rounds,
on-device personalization and per-client evaluation (`fedrobust simulate`), one stage per entry of ``federated.algorithms`` so each is cached and resumed
on its own. A federation with too few devices done (``federated.simulation.min_success_share``) raises
FederationError: the stage writes no record, so it is not reused, and its tables stay for inspection."""

from __future__ import annotations

from typing import Any

from fedrobust.federated.config import (
    SimulationConfig,
    algorithm_name,
    entry_init,
    entry_label,
    simulation_config_for,
    without_idle_explanation_keys,
)
from fedrobust.federated.simulate import simulate
from fedrobust.pipeline.config import PLACEHOLDER, RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext
from fedrobust.pipeline.stages.public_model import PUBLIC_MODEL

STAGE_PREFIX = "federated-"
# how it runs, how long it waits, what it accepts, and test-only delays: none changes the results of a
# federation that finishes (one that fails its min_success_share writes no stage record)
ENGINE_ONLY = ("backend", "num_cpus_per_client", "num_gpus_per_client", "ray_address", "timeout_s", "stall_timeout_s",
               "max_retries", "min_success_share", "inject_delay_s", "inject_delay_devices", "devices_per_node")


class FederatedStage(Stage):
    resumable = True  # the federation checkpoints every round

    def __init__(self, entry: Any, default_init: str, default_optimizer: Any = None, explain: bool = False) -> None:
        self.entry = entry  # an algorithm name or {name: {param: value}}
        self.algorithm = algorithm_name(entry, "federated.algorithms")
        self.init = entry_init(entry, default_init, "federated.algorithms")
        # fedavg_ft, fedavg_ft@public, fedavg_ft+fedadam
        self.label = entry_label(entry, default_init, "federated.algorithms", default_optimizer)
        self.name = STAGE_PREFIX + self.label
        # init student and fresh start from (the architecture of) the distilled student
        self.start_stage = PUBLIC_MODEL if self.init == "public" else "distill"
        # federated.evaluate.explanation_agreement: the server reads the teacher (device_explanations)
        self.explain = explain
        self.depends = ("data", self.start_stage, "teacher") if explain else ("data", self.start_stage)

    def _simulation(self, config: RunConfig, data_dir: str, model_dir: str, teacher: str | None = None
                    ) -> SimulationConfig:
        seed = config.seed if config.federated_seed is None else config.federated_seed
        return simulation_config_for(config.federated, self.entry, data_dir, model_dir, seed, teacher)

    def inputs(self, config: RunConfig) -> Any:
        teacher = PLACEHOLDER if self.explain else None
        simulation = self._simulation(config, PLACEHOLDER, PLACEHOLDER, teacher)
        mapping = without_idle_explanation_keys(simulation.to_dict())
        # where and how wide it runs does not change results
        mapping["simulation"] = {k: v for k, v in mapping["simulation"].items() if k not in ENGINE_ONLY}
        mapping.update(simulation.code_versions())  # e.g. a DP-SGD fix: no cached DP stage from before it
        return mapping

    def describe(self, config: RunConfig) -> str:
        c = self._simulation(config, PLACEHOLDER, PLACEHOLDER)
        clients = f"first {c.max_clients} clients" if c.max_clients else "all clients"
        return f"{c.rounds} rounds, {clients}, {c.fraction_train:g} sampled per round"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        teacher = ctx.upstream["teacher"]["model"] if self.explain else None
        config = self._simulation(ctx.config, ctx.output_of("data"), ctx.output_of(self.start_stage), teacher)
        summary = simulate(config, ctx.dir, verbose=ctx.verbose, shared_dir=ctx.shared_dir)
        means = {f"{phase}/{metric}": summary[phase][metric].get("mean")
                 for phase in ("global", "personalized") for metric in ("natural_acc", "adversarial_acc")}
        evidence = {phase: summary[phase]["evidence"] for phase in ("global", "personalized")}
        return {"output": str(ctx.dir), "algorithm": self.algorithm, "init": self.init, "clients": summary["clients"],
                "clients_evaluated": summary["clients_evaluated"], "failures": summary["failures"]["count"], **means,
                "majority_acc": evidence["personalized"]["majority_acc"].get("macro"),
                "constant_devices": {phase: e["constant_devices"] for phase, e in evidence.items()},
                "evidence": evidence, "alarms": summary.get("alarms", []),
                **({"explanations": summary["explanations"]} if "explanations" in summary else {})}
