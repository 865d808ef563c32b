"""Stage `data`: the federated LEAF folder (`fedrobust data prepare`), or the user's own."""

from __future__ import annotations

from typing import Any

from fedrobust.data import FederatedDataset
from fedrobust.data.prepare import prepare
from fedrobust.pipeline.config import RunConfig
from fedrobust.pipeline.stages.base import Stage, StageContext
from fedrobust.pipeline.stages.provided import provided_folder, provided_inputs

DATA_DIR = "data"


class DataStage(Stage):
    name = "data"

    def inputs(self, config: RunConfig) -> Any:
        if config.data.path:
            return provided_inputs("data", config.data.path)
        return config.data_config().to_dict()

    def describe(self, config: RunConfig) -> str:
        d = config.data
        return f"your data {d.path}" if d.path else f"{d.source}, {d.partition} partition"

    def run(self, ctx: StageContext) -> dict[str, Any]:
        if ctx.config.data.path:
            folder = provided_folder("data", ctx.config.data.path)
        else:
            folder = ctx.dir / DATA_DIR
            prepare(ctx.config.data_config(), folder, overwrite=True)
        dataset = FederatedDataset.load(folder)  # a malformed folder fails here with the file named
        public = dataset.public()
        print(f"  {len(dataset)} device clients, public split {len(public.train_texts)} train + "
              f"{public.n_test} test, labels {', '.join(dataset.label_names)}", flush=True)
        return {"output": str(folder), "clients": len(dataset), "public_train": len(public.train_texts),
                "public_test": public.n_test, "label_names": list(dataset.label_names)}
