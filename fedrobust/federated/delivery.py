"""Send a phase's messages and wait for their replies for as long as the phase makes progress.

Flower's ``grid.send_and_receive(messages, timeout)`` gives up on every message without a reply at
a wall-clock deadline, which under load drops cohorts that were only waiting for a free worker. Here
the wait goes on while replies arrive or devices finish (fedrobust.federated.progress_log); only
when nothing at all has happened for the stall window are the pending messages sent again (the
devices are named in the message, so any node can run them and the results are the same: every
seed derives from the device id and the round). After ``max_retries`` resends a message's devices
count as failed. The first reply per message wins; a late reply of an earlier try is ignored.

The stall window is ``simulation.stall_timeout_s`` where set; otherwise it scales with the work
as measured: ``max(AUTO_FLOOR_S, AUTO_FACTOR x`` the longest wait between two progress events seen
so far in the run``)``. A progress event is a reply or a finished device, so the window covers the
slowest device rather than the largest cohort or the whole round. Until a phase's first progress
event (workers starting up, loading data and model) its window is at least AUTO_FLOOR_S.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from flwr.app import Message
from flwr.serverapp import Grid

from fedrobust.federated.progress_log import ProgressLog

AUTO_FLOOR_S = 300.0  # the window before anything was measured: start-up, a first large device
AUTO_FACTOR = 10.0
POLL_S = 0.5


@dataclass
class StallClock:
    """The stall window, fixed or learnt from the waits between progress events of this run."""

    fixed_s: float | None = None
    floor_s: float = AUTO_FLOOR_S
    factor: float = AUTO_FACTOR
    longest_gap_s: float = 0.0

    def window_s(self, starting: bool = False) -> float:
        """``starting``: nothing has happened yet in this phase (start-up is not a stall)."""
        window = self.fixed_s if self.fixed_s is not None else max(self.floor_s, self.factor * self.longest_gap_s)
        return max(window, self.floor_s) if starting else window

    def observe(self, gap_s: float) -> None:
        self.longest_gap_s = max(self.longest_gap_s, gap_s)


@dataclass
class Delivery:
    """Per message (in the order sent): its first reply (None: none came) and how often it was sent."""

    replies: list[Message | None]
    tries: list[int]
    resends: int = 0
    waited_s: float = 0.0
    answered: list[Message] = field(init=False)

    def __post_init__(self) -> None:
        self.answered = [r for r in self.replies if r is not None]

    @property
    def unanswered(self) -> list[int]:
        return [i for i, reply in enumerate(self.replies) if reply is None]


def resend_copy(message: Message, dst_node_id: int) -> Message:
    """A new message with the same content and type (a pushed message cannot be pushed again)."""
    return Message(copy.deepcopy(message.content), dst_node_id=dst_node_id,
                   message_type=message.metadata.message_type, group_id=message.metadata.group_id)


def deliver(grid: Grid, messages: Sequence[Message], clock: StallClock, max_retries: int, *,
            progress: ProgressLog | None = None,
            retry_node: Callable[[int, int], int] | None = None,
            on_resend: Callable[[list[int], int, float], None] | None = None,
            on_reply: Callable[[int, Message], None] | None = None,
            poll_s: float = POLL_S,
            now: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Push ``messages`` and collect one reply per message, resending stalled ones.

    ``retry_node(index, attempt)`` picks the node of a resend (default: the same node);
    ``on_resend(indices, attempt, window_s)`` is told before each resend; ``on_reply(index, reply)``
    of each message's first reply as it arrives.
    """
    count = len(messages)
    replies: list[Message | None] = [None] * count
    tries = [0] * count
    attempts: dict[str, int] = {}  # message id of every try -> index of the message it repeats
    pending = set(range(count))
    resends = 0

    def push(batch: list[tuple[int, Message]]) -> None:
        pushed = set(grid.push_messages([m for _, m in batch]))
        for index, message in batch:
            tries[index] += 1
            if message.metadata.message_id in pushed:  # one the grid refused stalls and is sent again
                attempts[message.metadata.message_id] = index

    started = now()
    push(list(enumerate(messages)))
    last_progress: float | None = started  # None after a resend: that wait is not a gap to learn from
    window_started = started
    seen = progress.size() if progress else 0
    starting = True  # until the phase's first progress event
    while pending:
        advanced = False
        wanted = [message_id for message_id, index in attempts.items() if index in pending]
        for reply in grid.pull_messages(wanted) if wanted else ():
            index = attempts.get(reply.metadata.reply_to_message_id)
            if index is not None and index in pending:  # else a late reply to an earlier try
                replies[index] = reply
                pending.discard(index)
                advanced = True
                if on_reply:
                    on_reply(index, reply)
        if progress is not None and progress.size() != seen:
            seen, advanced = progress.size(), True
        t = now()
        if advanced:
            if last_progress is not None:
                clock.observe(t - last_progress)
            last_progress = window_started = t
            starting = False
            continue
        window = clock.window_s(starting)
        if t - window_started >= window:
            exhausted = {i for i in pending if tries[i] > max_retries}
            pending -= exhausted
            again = sorted(pending)
            if again:
                attempt = tries[again[0]] + 1
                if on_resend:
                    on_resend(again, attempt, window)
                push([(i, resend_copy(messages[i], retry_node(i, tries[i] + 1) if retry_node
                                      else messages[i].metadata.dst_node_id)) for i in again])
                resends += len(again)
            last_progress, window_started = None, t
            continue
        sleep(poll_s)
    return Delivery(replies, tries, resends, round(now() - started, 2))
