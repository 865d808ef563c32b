"""The Flower ServerApp: distribute the starting model, run the federated rounds of the chosen
algorithm with a checkpoint after each, then the personalization and evaluation round on every
device, and write the run directory's tables.

Every phase waits for as long as it makes progress and resends what stalled
(fedrobust.federated.delivery); a phase with too few devices done fails the federation
(fedrobust.federated.failures), after the evaluation's tables are written.

``app`` is the component ``flwr run .`` uses (config from ``[tool.flwr.app.config]``);
``make_server_app(config, run_dir)`` is what ``fedrobust simulate`` runs in-process.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any, Callable

import yaml
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from fedrobust.errors import FedrobustError
from fedrobust.evaluation.baselines import majority_accuracy
from fedrobust.evaluation.measure import natural_metrics
from fedrobust.evaluation.metrics import NATURAL_ACC
from fedrobust.federated import worker_cache
from fedrobust.federated.algorithms import Algorithm, build_algorithm
from fedrobust.federated.checkpoint import Checkpointer
from fedrobust.federated.cohorts import ALGORITHM_MODULE_KEY, DEVICES_KEY, devices_of_node, num_nodes, unpack_reply
from fedrobust.federated.alarms import device_alarms, round_alarms
from fedrobust.federated.config import SimulationConfig, load_config
from fedrobust.federated.delivery import Delivery, StallClock, deliver
from fedrobust.federated.device_explanations import prepare_teacher_attributions
from fedrobust.federated.evaluation_replies import EvaluationReplies, KeptReply, forget_evaluation_replies
from fedrobust.federated.failures import FederationError, federation_error, reason_counts, shortfall
from fedrobust.federated.membership_pool import SCORES_CSV, pooled_summary, take_scores, write_scores
from fedrobust.federated.progress_log import PROGRESS_LOG_KEY, ProgressLog
from fedrobust.federated.sparse_rows import expand_replies
from fedrobust.federated.strategy import reads_sparse_replies
from fedrobust.federated.results import client_columns, client_rows, summarize_clients, write_csv, write_summary
from fedrobust.federated.server_optimizers import ServerStep, with_server_optimizer
from fedrobust.federated.transport import load_arrays, to_arrays
from fedrobust.privacy.round_dp import restore_round_state, round_record, round_state, with_round_privacy
from fedrobust.seeding import derive_seed

log = logging.getLogger(__name__)
SUMMARY = "summary.json"
MONITOR_TEXTS = 1000  # public train texts the global model is scored on after every round


def _base_config(config: SimulationConfig, algorithm: Algorithm, run_dir: Path, server_round: int,
                 progress: ProgressLog) -> ConfigRecord:
    return ConfigRecord({
        "fedrobust-config": json.dumps(config.to_dict(), sort_keys=True),
        ALGORITHM_MODULE_KEY: type(algorithm).__module__,  # workers import it: a user's algorithm registers there
        "run-dir": str(run_dir.resolve()),
        "server-round": server_round,
        PROGRESS_LOG_KEY: str(progress.path),
    })


def make_strategy(algorithm: Algorithm, config: SimulationConfig):
    """The algorithm's aggregation strategy, wrapped with Flower's DP wrapper when ``privacy.rounds``
    asks, under the server optimizer's step when ``server_optimizer`` names one (the step comes
    after the DP noise: fedrobust.federated.server_optimizers.base)."""
    private = with_round_privacy(algorithm.aggregation_strategy(config), config.privacy.rounds)
    return with_server_optimizer(private, config.server_optimizer)


def _privacy_layer(strategy):
    """The round-DP wrapper (or the algorithm's strategy) under a server optimizer."""
    return strategy.inner if isinstance(strategy, ServerStep) else strategy


def _state_arrays(strategy) -> dict:
    state = getattr(strategy, "state_arrays", None)
    return state() if state else {}


def wait_for_nodes(grid: Grid, expected: int, timeout: float, settle_s: float = 5.0) -> list[int]:
    """Node ids once ``expected`` nodes are connected, or once their number stops growing.

    The ServerApp can start before the simulation engine has registered its nodes.
    """
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while True:
        node_ids = list(grid.get_node_ids())
        if len(node_ids) != last_count:
            last_count, last_change = len(node_ids), time.monotonic()
        settled = node_ids and time.monotonic() - last_change > settle_s
        if len(node_ids) >= expected or settled or time.monotonic() > deadline:
            return node_ids
        time.sleep(0.2)


def map_devices(grid: Grid, num_clients: int, devices_per_node: int, clock: StallClock,
                max_retries: int) -> dict[int, list[int]]:
    """Ask every node for its index; node k simulates devices k*C .. k*C+C-1 (C = devices per node)."""
    node_ids = wait_for_nodes(grid, num_nodes(num_clients, devices_per_node), clock.window_s(starting=True))
    messages = [Message(RecordDict(), message_type=MessageType.QUERY, dst_node_id=n) for n in node_ids]
    delivery = deliver(grid, messages, clock, max_retries)
    mapping, errors = {}, []
    for reply in delivery.answered:
        if reply.has_error():
            errors.append(reply.error.reason)
            continue
        devices = devices_of_node(int(reply.content["metrics"]["partition-id"]), devices_per_node, num_clients)
        if devices:
            mapping[reply.metadata.src_node_id] = devices
    if not mapping:
        reason = errors[0].strip().splitlines()[-1] if errors else f"no reply after {max_retries + 1} tries"
        raise FederationError(f"none of the {len(node_ids)} simulation nodes answered: {reason}")
    return mapping


class Federation:
    def __init__(self, config: SimulationConfig, run_dir: Path) -> None:
        self.config, self.run_dir = config, Path(run_dir)
        self.algorithm: Algorithm = build_algorithm(config.algorithm_name, config.algorithm_params)
        self.dataset = worker_cache.federated_dataset(config.data)
        self.num_clients = min(len(self.dataset), config.max_clients or len(self.dataset))
        self.model = worker_cache.initial_model(config.model, config.init, config.seed)
        self.tokenizer = worker_cache.tokenizer_for(config.model)
        self.failed_clients: dict[str, str] = {}
        self.clock = StallClock(fixed_s=config.simulation.stall_window_s)
        self.nodes_in_order: list[int] = []  # node ids by their first device: where a cohort's resend goes

    def _public_sample(self) -> tuple[list[str], list[int]] | None:
        """A seeded sample of the public *train* split for the round monitor: test texts are for the
        final evaluation only, and the monitor watches for collapse (a drop from the start, a
        constant model), which the texts the student was trained on show as well."""
        try:
            public = self.dataset.public()
        except FedrobustError:
            return None
        n = len(public.train_texts)
        rows = sorted(random.Random(derive_seed(self.config.seed, "public-monitor")).sample(range(n), min(n, MONITOR_TEXTS)))
        return [public.train_texts[i] for i in rows], [int(public.train_labels[i]) for i in rows]

    def _public_accuracy(self, arrays: ArrayRecord) -> float:
        """The global model's accuracy on the monitor sample (not for algorithms with local heads)."""
        sample = self._public_sample()
        if self.algorithm.shared_keys(self.model) is not None or sample is None:
            return float("nan")
        load_arrays(self.model, arrays)
        return natural_metrics(self.model, self.tokenizer, *sample)[NATURAL_ACC]

    def _public_majority_share(self) -> float | None:
        """Share of the monitor sample's most frequent label: a constant model's accuracy there."""
        sample = self._public_sample()
        if sample is None:
            return None
        share = majority_accuracy(sample[1], sample[1])
        return round(share, 4) if math.isfinite(share) else None

    def _send(self, grid: Grid, messages: list[Message], phase: str, progress: ProgressLog,
              on_reply: Callable[[int, Message], None] | None = None) -> Delivery:
        """Deliver a phase's messages, resending stalled ones (in cohort mode to the next node)."""
        engine = self.config.simulation
        cohorts = engine.devices_per_node > 1 and len(self.nodes_in_order) > 1

        def retry_node(index: int, attempt: int) -> int:
            node = messages[index].metadata.dst_node_id
            if not cohorts or node not in self.nodes_in_order:
                return node
            return self.nodes_in_order[(self.nodes_in_order.index(node) + attempt - 1) % len(self.nodes_in_order)]

        def on_resend(indices: list[int], attempt: int, window_s: float) -> None:
            devices = sum(len(messages[i].content["config"][DEVICES_KEY]) for i in indices)
            print(f"[{phase}] no progress for {window_s:.0f} s: sending {len(indices)} message(s) ({devices} devices) "
                  f"again, try {attempt}/{engine.max_retries + 1}", flush=True)

        return deliver(grid, messages, self.clock, engine.max_retries, progress=progress,
                       retry_node=retry_node, on_resend=on_resend, on_reply=on_reply)

    def _collect(self, delivery: Delivery, sent: list[Message], where: str) -> tuple[dict[int, RecordDict], dict[str, str]]:
        """Per-device records of the replies, and the devices that failed or never answered (client id -> why)."""
        answered: dict[int, RecordDict] = {}
        failures: dict[str, str] = {}

        def note(devices, reason: str) -> None:
            for device in devices:
                failures[self.dataset.client_ids[int(device)]] = reason

        for message, reply, tries in zip(sent, delivery.replies, delivery.tries):
            asked = [int(d) for d in message.content["config"][DEVICES_KEY]]
            if reply is None:
                note(asked, f"{where}: no reply after {tries} {'try' if tries == 1 else 'tries'}")
            elif reply.has_error():
                last_line = reply.error.reason.strip().splitlines()[-1].rstrip("'\">")  # Flower wraps it in a repr
                note(asked, f"{where}: {last_line[:200]}")
            else:
                devices, failed = unpack_reply(reply.content)
                answered.update(devices)
                for device, reason in failed.items():
                    note([device], f"{where}: {reason[:200]}")
        self.failed_clients.update(failures)
        return answered, failures

    def run_rounds(self, grid: Grid, strategy, checkpoints: Checkpointer) -> ArrayRecord:
        config = self.config
        completed, arrays = checkpoints.resume()
        restore_round_state(_privacy_layer(strategy), checkpoints.strategy_state)  # e.g. the adaptive clipping bound reached
        if checkpoints.strategy_arrays:  # a server optimizer's moments, SCAFFOLD's control variate
            strategy.restore_state_arrays(checkpoints.strategy_arrays)
        shared = self.algorithm.shared_keys(self.model)
        start = to_arrays(self.model, shared)
        # a checkpoint's arrays come back sorted by name; Flower's DP wrappers pair arrays by
        # position (and draw noise array by array), so they go back into the model's order
        arrays = start if arrays is None else ArrayRecord({key: arrays[key] for key in start.keys()})
        rounds = config.rounds if self.algorithm.federated else 0
        if completed:
            print(f"resuming after round {completed}/{rounds} from {checkpoints.dir}", flush=True)
        started = time.perf_counter()
        for server_round in range(completed + 1, rounds + 1):
            t0 = time.perf_counter()
            progress = ProgressLog(self.run_dir, f"round_{server_round:04d}").start()
            base = _base_config(config, self.algorithm, self.run_dir, server_round, progress)
            messages = list(strategy.configure_train(server_round, arrays, base, grid))
            delivery = self._send(grid, messages, f"round {server_round}", progress)
            ok, failures = self._collect(delivery, messages, f"round {server_round}")
            asked = [int(d) for m in messages for d in m.content["config"][DEVICES_KEY]]
            sampled = len(asked)
            problem = shortfall(f"round {server_round}", asked, ok, config.simulation, config.seed)
            if problem:  # before the checkpoint: a rerun does this round again
                raise federation_error(problem, failures, str(self.run_dir))
            if not reads_sparse_replies(strategy):
                expand_replies(messages, delivery.replies)  # whole tables again where only changed rows came back
            ok_replies = [r for r in delivery.answered if not r.has_error()]
            arrays, metrics = strategy.aggregate_train(server_round, ok_replies)
            row = {
                "round": server_round, "algorithm": config.label, "sampled": sampled, "succeeded": len(ok),
                "failed": sampled - len(ok), "train_loss": round(float(metrics["train-loss"]), 5) if metrics else None,
                "train_examples": sum(int(r["metrics"]["num-examples"]) for r in ok.values()),
                "public_train_acc": round(self._public_accuracy(arrays), 4),
                **round_record(_privacy_layer(strategy)),
                "wall_s": round(time.perf_counter() - t0, 2),
            }
            checkpoints.save(server_round, arrays, row, round_state(_privacy_layer(strategy)), _state_arrays(strategy))
            done = server_round - completed
            eta = (time.perf_counter() - started) / done * (rounds - server_round)
            print(f"[round {server_round}/{rounds}] {len(ok)}/{sampled} clients ok, train loss {row['train_loss']}, "
                  f"public acc {row['public_train_acc']}, {row['wall_s']} s (eta {eta:.0f} s)", flush=True)
        return arrays

    def personalize_and_evaluate(self, grid: Grid, arrays: ArrayRecord,
                                 devices_of: dict[int, list[int]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """clients.csv's rows, and every example's membership score (membership_scores.csv's rows)."""
        config = self.config
        final_round = (config.rounds if self.algorithm.federated else 0) + 1
        progress = ProgressLog(self.run_dir, "personalize_evaluate").start()
        base = _base_config(config, self.algorithm, self.run_dir, final_round, progress)
        messages = [Message(RecordDict({"arrays": arrays, "config": ConfigRecord({**base, DEVICES_KEY: devices})}),
                            message_type=MessageType.EVALUATE, dst_node_id=node)
                    for node, devices in sorted(devices_of.items(), key=lambda item: item[1][0])]
        total = sum(len(d) for d in devices_of.values())
        examples = "all" if config.evaluate.examples is None else config.evaluate.examples
        print(f"[personalize + evaluate] {total} clients on {len(messages)} nodes ({config.evaluate.describe()} on "
              f"{examples} test texts each) ...", flush=True)
        t0 = time.perf_counter()
        delivery = self._send_keeping_replies(grid, messages, arrays, progress)
        per_device, _ = self._collect(delivery, messages, "personalize+evaluate")
        rows, scores = [], []
        for device in sorted(per_device):
            metrics = dict(per_device[device]["metrics"])
            scores += take_scores(metrics, self.dataset.client_ids[device], device)
            rows += client_rows(config.label, device, self.dataset.client_ids[device], metrics)
        print(f"[personalize + evaluate] {len(per_device)}/{total} clients ok in {time.perf_counter() - t0:.1f} s", flush=True)
        return rows, scores

    def _send_keeping_replies(self, grid: Grid, messages: list[Message], arrays: ArrayRecord,
                              progress: ProgressLog) -> Delivery:
        """The final phase's delivery, each reply kept as it arrives (fedrobust.federated.evaluation_replies);
        messages whose reply an interrupted run kept are not sent again."""
        kept_replies = EvaluationReplies(self.run_dir, self.config.fingerprint(), arrays)
        asked = [[int(d) for d in m.content["config"][DEVICES_KEY]] for m in messages]
        kept = [kept_replies.load(devices) for devices in asked]
        todo = [i for i, content in enumerate(kept) if content is None]
        if len(todo) < len(messages):
            print(f"[personalize + evaluate] resuming: the results of {len(messages) - len(todo)} of {len(messages)} "
                  f"nodes were kept by an interrupted run", flush=True)

        def keep(index: int, reply: Message) -> None:
            if not reply.has_error():
                kept_replies.save(asked[todo[index]], reply.content)

        sent = self._send(grid, [messages[i] for i in todo], "personalize + evaluate", progress, on_reply=keep)
        replies: list[Any] = [KeptReply(content) if content is not None else None for content in kept]
        tries = [0] * len(messages)
        for index, reply, count in zip(todo, sent.replies, sent.tries):
            replies[index], tries[index] = reply, count
        return Delivery(replies, tries, sent.resends, sent.waited_s)

    def run(self, grid: Grid) -> dict[str, Any]:
        t0 = time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))
        engine = self.config.simulation
        devices_of = map_devices(grid, self.num_clients, engine.devices_per_node, self.clock, engine.max_retries)
        self.nodes_in_order = [node for node, _ in sorted(devices_of.items(), key=lambda item: item[1][0])]
        mapped = {d for devices in devices_of.values() for d in devices}
        for device in range(self.num_clients):
            if device not in mapped:
                self.failed_clients[self.dataset.client_ids[device]] = "no simulation node answered for it"
        strategy = make_strategy(self.algorithm, self.config)
        strategy.devices_of = devices_of
        checkpoints = Checkpointer(self.run_dir, self.config.fingerprint())
        start_public = self._public_accuracy(to_arrays(self.model, self.algorithm.shared_keys(self.model)))
        # `fedrobust simulate` wrote them before Ray started; `flwr run .` computes them here
        prepare_teacher_attributions(self.config, self.dataset, range(self.num_clients), self.tokenizer, self.run_dir)
        arrays = self.run_rounds(grid, strategy, checkpoints)
        rows, scores = self.personalize_and_evaluate(grid, arrays, devices_of)
        write_csv(self.run_dir / "clients.csv", client_columns(rows), rows)
        if scores:
            write_scores(self.run_dir / SCORES_CSV, scores)
        clients_summary = summarize_clients(rows, seed=self.config.seed, pooled_membership=pooled_summary(scores))
        if "explanations" in clients_summary:  # which token attributions the agreement compares
            clients_summary["explanations"]["attribution"] = self.config.evaluate.attribution
        majority_share = self._public_majority_share()
        alarms = round_alarms(start_public if math.isfinite(start_public) else None, majority_share,
                              checkpoints.rows) + device_alarms(clients_summary)
        for alarm in alarms:
            print(f"WARNING: {alarm}", flush=True)
        evaluated = {int(r["partition_id"]) for r in rows}
        problem = shortfall("personalize+evaluate", range(self.num_clients), evaluated, engine, self.config.seed)
        evaluated_ids = {self.dataset.client_ids[d] for d in evaluated}
        not_evaluated = {c: why for c, why in self.failed_clients.items() if c not in evaluated_ids}
        error = federation_error(problem, not_evaluated, str(self.run_dir)) if problem else None
        summary = {
            "algorithm": self.config.label,
            "init": self.config.init,
            "clients": self.num_clients,
            "clients_evaluated": len(rows) // 2,
            **clients_summary,
            "public_train_acc_start": round(start_public, 4),
            "public_majority_share": majority_share,
            "alarms": alarms,
            "failures": {"count": len(self.failed_clients), "reasons": reason_counts(self.failed_clients),
                         "clients": self.failed_clients,
                         "train_failures_per_round": {r["round"]: r["failed"] for r in checkpoints.rows},
                         **({"error": str(error)} if error else {})},
            "rounds_completed": len(checkpoints.rows),
            **({"round_dp": {"final_clipping_norm": checkpoints.strategy_state["clipping_norm"]}}
               if "clipping_norm" in checkpoints.strategy_state else {}),
            "wall_s_this_session": round(time.perf_counter() - t0, 2),
            "fingerprint": self.config.fingerprint(),
            "devices_per_node": engine.devices_per_node,
        }
        write_summary(self.run_dir / SUMMARY, summary)
        if error:  # the tables stay for inspection, but the run did not succeed
            raise error
        forget_evaluation_replies(self.run_dir)
        return summary


def make_server_app(config: SimulationConfig, run_dir: Path) -> ServerApp:
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        Federation(config, run_dir).run(grid)

    return server_app


app = ServerApp()


@app.main()
def flwr_run_main(grid: Grid, context: Context) -> None:
    """Entry point for `flwr run .`: the run config names a YAML config and the run directory."""
    run_config = dict(context.run_config)
    overrides = {k: v for k, v in run_config.items() if k not in ("config", "out")}
    config = load_config(run_config["config"], overrides)
    Federation(config, Path(str(run_config.get("out", "runs/flwr")))).run(grid)
