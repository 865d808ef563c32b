"""Stage `federated-<algorithm>`: Flower rounds, on-device personalization and per-client evaluation
(`fedrobust simulate`), one stage per algorithm so each is cached and resumed on its own."""

from __future__ import annotations

from typing import Any

from fedrobust.pipeline.config import PLACEHOLDER, RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext

STAGE_PREFIX = "federated-"
ENGINE_ONLY = ("backend", "num_cpus_per_client", "num_gpus_per_client", "ray_address", "timeout_s", "devices_per_node")


class FederatedStage(Stage):
    depends = ("data", "distill")
    resumable = True  # the federation checkpoints every round

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.name = STAGE_PREFIX + algorithm

    def inputs(self, config: RunConfig) -> Any:
        mapping = config.simulation_mapping(self.algorithm, PLACEHOLDER, PLACEHOLDER)
        engine = {k: v for k, v in (mapping.get("simulation") or {}).items() if k not in ENGINE_ONLY}
        return {**mapping, "simulation": engine}  # where and how wide it runs does not change results

    def describe(self, config: RunConfig) -> str:
        from fedrobust.federated.config import config_from_mapping

        c = config_from_mapping(config.simulation_mapping(self.algorithm, PLACEHOLDER, PLACEHOLDER))
        clients = f"first {c.max_clients} clients" if c.max_clients else "all clients"
        return f"{c.rounds} rounds, {clients}, {c.fraction_train:g} sampled per round"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        from fedrobust.federated.config import config_from_mapping
        from fedrobust.federated.simulate import simulate

        config = config_from_mapping(ctx.config.simulation_mapping(self.algorithm, ctx.output_of("data"), ctx.output_of("distill")))
        summary = simulate(config, ctx.dir, verbose=ctx.verbose)
        means = {f"{phase}/{metric}": summary[phase][metric].get("mean")
                 for phase in ("global", "personalized") for metric in ("natural_acc", "adversarial_acc")}
        return {"output": str(ctx.dir), "algorithm": self.algorithm, "clients": summary["clients"],
                "clients_evaluated": summary["clients_evaluated"], "failures": summary["failures"]["count"], **means}
