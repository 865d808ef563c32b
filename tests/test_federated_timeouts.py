"""Waiting that measures progress, resends for nodes that stop answering, and failures that fail
the federation: the waiting and resending against a fake grid on a fake clock (fast), then a few
real simulations (Ray) with injected delays and failures."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from fedrobust.errors import ConfigError
from fedrobust.federated.config import section_from_mapping
from fedrobust.federated.delivery import AUTO_FACTOR, AUTO_FLOOR_S, StallClock, deliver
from fedrobust.federated.failures import FederationError, describe_failures, shortfall
from fedrobust.seeding import derive_seed
from tests.federated_helpers import make_federation, sim_config

# ---------------------------------------------------------------- a fake grid on a fake clock


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeGrid:
    """Replies to the try ``k`` (1-based) of message ``i`` ``answer(i, k)`` seconds after it was
    pushed (None: never); counts progress lines ``progress_every`` seconds apart while asked."""

    def __init__(self, clock: FakeClock, answer) -> None:
        self.clock, self.answer = clock, answer
        self.pushed: list[tuple[float, int, int, object]] = []  # (when, message index, try, message)
        self.delivered: set[str] = set()

    def push_messages(self, messages):
        ids = []
        for message in messages:
            index = int(message.content["config"]["index"])
            attempt = 1 + sum(1 for _, i, _, _ in self.pushed if i == index)
            message.metadata.__dict__["_message_id"] = f"m{index}.{attempt}"
            self.pushed.append((self.clock.t, index, attempt, message))
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids):
        from flwr.app import RecordDict

        replies = []
        for when, index, attempt, message in self.pushed:
            delay = self.answer(index, attempt)
            message_id = message.metadata.message_id
            if message_id in message_ids and message_id not in self.delivered and delay is not None \
                    and self.clock.t >= when + delay:
                self.delivered.add(message_id)
                replies.append(SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=message_id),
                                               content=RecordDict(), has_error=lambda: False))
        return replies


class FakeProgress:
    """A progress log that grows every ``every`` seconds until ``until``."""

    def __init__(self, clock: FakeClock, every: float, until: float) -> None:
        self.clock, self.every, self.until = clock, every, until

    def size(self) -> int:
        return int(min(self.clock.t, self.until) // self.every)


@pytest.fixture
def messages(monkeypatch):
    """Messages as a ServerApp makes them (Flower wants a run id in the process)."""
    from flwr.app import ConfigRecord, Message, MessageType, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    for attribute in ("_run_id", "_task_id", "_node_id"):
        monkeypatch.setattr(TaskIdentity, attribute, 1)

    def make(count: int) -> list:
        return [Message(RecordDict({"config": ConfigRecord({"index": i, "devices": [2 * i, 2 * i + 1]})}),
                        dst_node_id=100 + i, message_type=MessageType.TRAIN) for i in range(count)]

    return make


def _deliver(messages, answer, window=6.0, max_retries=2, progress=None, **kwargs):
    clock = FakeClock()
    grid = FakeGrid(clock, answer)
    progress_log = FakeProgress(clock, *progress) if progress else None
    delivery = deliver(grid, messages, StallClock(fixed_s=window), max_retries, progress=progress_log,
                       now=clock.now, sleep=clock.sleep, **kwargs)
    return delivery, grid, clock


@pytest.mark.parametrize("delays", [[5, 10, 15, 20], [1, 1, 1, 40]])
def test_replies_far_apart_but_within_the_window_are_all_waited_for(messages, delays):
    """Replies keep coming (or devices keep finishing): a round much longer than the window loses nothing."""
    progress = (3.0, 40.0) if delays[-1] == 40 else None  # the last cohort reports a device every 3 s
    delivery, grid, clock = _deliver(messages(4), lambda i, k: delays[i], window=6.0, progress=progress)
    assert delivery.unanswered == [] and delivery.tries == [1, 1, 1, 1] and delivery.resends == 0
    assert clock.t >= max(delays) > 6.0


@pytest.mark.parametrize("max_retries", [0, 1, 2])
def test_a_node_that_never_answers_is_resent_then_given_up(messages, max_retries):
    delivery, grid, clock = _deliver(messages(3), lambda i, k: None if i == 1 else 2.0, window=6.0,
                                     max_retries=max_retries)
    assert delivery.unanswered == [1] and delivery.tries == [1, max_retries + 1, 1]
    assert delivery.resends == max_retries
    assert [attempt for _, index, attempt, _ in grid.pushed if index == 1] == list(range(1, max_retries + 2))
    # given up one window after its last try (plus a poll): not before
    assert 2.0 + 6.0 * (max_retries + 1) <= clock.t <= 2.0 + 6.0 * (max_retries + 1) + 1.0


def test_the_first_reply_wins_and_a_late_reply_of_an_earlier_try_is_ignored(messages):
    # try 1 of message 0 is stuck until t=30; its resend (pushed at t=6+) answers 2 s later
    delivery, grid, clock = _deliver(messages(2), lambda i, k: (30.0 if k == 1 else 2.0) if i == 0 else 1.0,
                                     window=5.0)
    assert delivery.tries == [2, 1] and delivery.unanswered == []
    assert delivery.replies[0].metadata.reply_to_message_id == "m0.2"
    clock.t = 31.0  # the original's reply arrives now: nobody asks for it any more
    assert len(delivery.answered) == 2


@pytest.mark.parametrize("cohort_mode", [False, True])
def test_a_resend_goes_where_retry_node_says(messages, cohort_mode):
    nodes = [100, 101, 102]
    pick = (lambda i, attempt: nodes[(i + attempt - 1) % 3]) if cohort_mode else None
    delivery, grid, _ = _deliver(messages(3), lambda i, k: None if i == 0 else 1.0, window=4.0, max_retries=2,
                                 retry_node=pick)
    destinations = [m.metadata.dst_node_id for _, index, _, m in grid.pushed if index == 0]
    assert destinations == ([100, 101, 102] if cohort_mode else [100, 100, 100])
    sent = [m for _, index, _, m in grid.pushed if index == 0]
    assert all(list(m.content["config"]["devices"]) == [0, 1] for m in sent)  # the same devices every try


def test_on_resend_is_told_which_messages_and_which_try(messages):
    told = []
    _deliver(messages(3), lambda i, k: 1.0 if i == 1 else None, window=3.0, max_retries=1,
             on_resend=lambda indices, attempt, window: told.append((indices, attempt, window)))
    assert told == [([0, 2], 2, 3.0)]


def test_before_anything_answered_the_window_is_at_least_the_floor(messages):
    """Workers starting up are not a stall: a short fixed window applies once the phase made progress."""
    delivery, grid, clock = _deliver(messages(1), lambda i, k: 60.0 if k == 1 else None, window=3.0)
    assert delivery.tries == [1] and delivery.unanswered == [] and clock.t >= 60.0


@pytest.mark.parametrize(("fixed", "gaps", "expected"), [
    (7.0, [100.0], 7.0),  # set by the config: what it says
    (None, [], AUTO_FLOOR_S),  # nothing measured yet
    (None, [10.0, 3.0], AUTO_FLOOR_S),  # short waits: the floor
    (None, [10.0, 45.0, 3.0], AUTO_FACTOR * 45.0),  # scales with the longest wait seen
])
def test_the_stall_window_is_fixed_or_scales_with_the_measured_work(fixed, gaps, expected):
    clock = StallClock(fixed_s=fixed)
    for gap in gaps:
        clock.observe(gap)
    assert clock.window_s() == expected
    assert clock.window_s(starting=True) == max(expected, AUTO_FLOOR_S)  # a phase's start-up is not a stall


def test_delivery_learns_the_gaps_between_progress_but_not_the_stalls(messages):
    clock = StallClock()  # automatic
    fake = FakeClock()
    grid = FakeGrid(fake, lambda i, k: [20.0, 50.0][i])
    deliver(grid, messages(2), clock, 2, now=fake.now, sleep=fake.sleep)
    assert clock.longest_gap_s == pytest.approx(30.0, abs=1.0)
    assert clock.window_s() == pytest.approx(AUTO_FACTOR * 30.0, abs=AUTO_FACTOR)


# ---------------------------------------------------------------- the success share


def _engine(share=None, injected=0.0):
    return SimpleNamespace(min_success_share=share, inject_failure_fraction=injected)


INJECTED = {d for d in range(5) if derive_seed(0, "inject-failure", d) / 2**31 < 0.3}


@pytest.mark.parametrize(("share", "injected", "succeeded", "fails"), [
    (None, 0.0, set(range(5)), False),
    (None, 0.0, {0, 1, 2, 3}, True),  # strict by default
    (None, 0.3, set(range(5)) - INJECTED, False),  # the injected failures are allowed
    (None, 0.3, set(range(5)) - INJECTED - {next(d for d in range(5) if d not in INJECTED)}, True),
    (0.6, 0.0, {0, 1, 2}, False),
    (0.8, 0.0, {0, 1, 2}, True),
    (0.0, 0.0, set(), True),  # nothing at all succeeded: always a failure
])
def test_a_phase_fails_below_its_success_share(share, injected, succeeded, fails):
    assert 0 < len(INJECTED) < 5
    problem = shortfall("personalize+evaluate", range(5), succeeded, _engine(share, injected), seed=0)
    assert (problem is not None) == fails
    if fails:
        assert problem.startswith("personalize+evaluate: ")


def test_failure_reasons_are_grouped_with_the_first_few_clients():
    failed = {f"c{i}": "round 1: no reply after 3 tries" for i in range(5)} | {"x": "round 1: ValueError: bad"}
    line = describe_failures(failed)
    assert line == ("round 1: no reply after 3 tries (5 devices: c0, c1, c2, ...); "
                    "round 1: ValueError: bad (1 device: x)")
    assert "\n" not in line


# ---------------------------------------------------------------- the config keys


@pytest.mark.parametrize(("simulation", "message"), [
    ({"stall_timeout_s": 0}, "federated.simulation.stall_timeout_s must be > 0"),
    ({"timeout_s": -5.0}, "federated.simulation.timeout_s must be > 0"),
    ({"max_retries": -1}, "federated.simulation.max_retries must be >= 0"),
    ({"min_success_share": 1.5}, r"federated.simulation.min_success_share must be in \[0, 1\]"),
    ({"inject_failure_fraction": 1.2}, r"federated.simulation.inject_failure_fraction must be in \[0, 1\]"),
    ({"inject_delay_devices": [0, -1]}, r"federated.simulation.inject_delay_devices\[1\] must be >= 0"),
    ({"timeout_s": 30, "stall_timeout_s": 60}, "timeout_s is the old name of stall_timeout_s"),
])
def test_bad_waiting_settings_are_refused_naming_the_key(simulation, message):
    with pytest.raises(ConfigError, match=message):
        section_from_mapping({"simulation": simulation})


@pytest.mark.parametrize(("simulation", "window"), [
    ({}, None), ({"timeout_s": 30}, 30), ({"stall_timeout_s": 12.5}, 12.5), ({"timeout_s": 9, "stall_timeout_s": 9}, 9),
])
def test_the_old_timeout_key_still_loads_as_the_stall_window(simulation, window):
    assert section_from_mapping({"simulation": simulation}).simulation.stall_window_s == window


# ---------------------------------------------------------------- real simulations (Ray)


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("timeouts"), num_owners=6)  # 5 device clients


def _rows(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # two simulations, about 100 s on 2 cores
def test_a_slowed_cohort_that_keeps_finishing_devices_is_not_dropped(federation, tmp_path):
    """One node simulates all 5 devices and each sleeps 6 s first: the node answers after more than
    30 s, longer than the old per-round timeout it is given (20 s, now read as the stall window), with no
    resend allowed. Each device it finishes is progress, so nothing fails and the results are those of
    an undelayed run."""
    from fedrobust.federated.simulate import simulate

    data_dir, model_dir = federation
    quiet = simulate(sim_config(data_dir, model_dir, rounds=0, simulation={"devices_per_node": 5}), tmp_path / "quiet")
    slowed = sim_config(data_dir, model_dir, rounds=0, simulation={
        "devices_per_node": 5, "timeout_s": 20, "max_retries": 0, "inject_delay_s": 6,
        "inject_delay_devices": [0, 1, 2, 3, 4]})
    summary = simulate(slowed, tmp_path / "slowed")
    assert summary["failures"]["count"] == 0 and summary["clients_evaluated"] == quiet["clients_evaluated"] == 5
    assert summary["wall_s"] > 30
    assert (tmp_path / "slowed" / "clients.csv").read_text() == (tmp_path / "quiet" / "clients.csv").read_text()


def test_a_node_that_never_answers_is_resent_then_counted_failed_and_the_run_fails(federation, tmp_path):
    """Device 2 hangs (25 s, far beyond a 4 s stall window) every time it runs: its message is sent
    again once, then its device counts as failed, and one failed device of five fails the run; the
    tables of the others stay on disk."""
    from fedrobust.federated.simulate import simulate

    data_dir, model_dir = federation
    config = sim_config(data_dir, model_dir, rounds=0, simulation={
        "stall_timeout_s": 4, "max_retries": 1, "inject_delay_s": 25, "inject_delay_devices": [2]})
    with pytest.raises(FederationError, match=r"1 of 5 devices failed .*no reply after 2 tries \(1 device: "):
        simulate(config, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["failures"]["count"] == 1
    assert summary["failures"]["reasons"] == {"personalize+evaluate: no reply after 2 tries": 1}
    rows = _rows(tmp_path / "run" / "clients.csv")
    assert sorted({int(r["partition_id"]) for r in rows}) == [0, 1, 3, 4]


def _simulate_cli(config_path: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fedrobust.cli.main", "simulate", "--config", str(config_path),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)


def test_an_all_failing_device_phase_exits_non_zero_with_one_line(federation, tmp_path):
    data_dir, model_dir = federation
    mapping = sim_config(data_dir, model_dir, rounds=0, simulation={"inject_failure_fraction": 1.0}).to_dict()
    config_path = tmp_path / "all_fail.yaml"
    config_path.write_text(yaml.safe_dump(mapping))
    result = _simulate_cli(config_path, tmp_path / "run")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("fedrobust simulate: error: personalize+evaluate: none of the 5 devices succeeded; ")
    assert "injected failure (simulation.inject_failure_fraction) (5 devices: " in last
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["failures"]["count"] == 5


def test_a_failing_federation_leaves_no_stage_record_in_fedrobust_run(tmp_path):
    """The federated stage of a tiny study fails (every device fails on purpose); earlier stages are
    recorded as done, the federated one is not (so the next run does not reuse it)."""
    from fedrobust.pipeline import run_study
    from fedrobust.pipeline.config import config_from_mapping
    from tests.pipeline_helpers import tiny_run_mapping

    mapping = tiny_run_mapping(tmp_path, algorithms=["fedavg_ft"])
    mapping["federated"]["simulation"] = {"inject_failure_fraction": 1.0}
    with pytest.raises(FederationError, match="none of the .* devices succeeded"):
        run_study(config_from_mapping(mapping))
    stages = tmp_path / "run" / "stages"
    assert list((stages / "distill").glob("*/stage.json"))
    federated = list((stages / "federated-fedavg_ft").iterdir())
    assert federated and not list((stages / "federated-fedavg_ft").glob("*/stage.json"))
