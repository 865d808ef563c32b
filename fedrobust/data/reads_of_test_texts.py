"""Who read test data: every read of a split owner's test texts or labels is noted here.

Selection (keep-best epochs, early stopping, search, tuning) must never see test data; only the
final evaluation reads it. ``ClientData.test_texts`` / ``test_labels`` call :func:`note_test_read`,
so a study or a test can check that a phase read none:

    with record_test_reads() as reads:
        run_distill(config, out)
    assert_no_test_reads(reads, "distillation")   # reads: {"public", "<client id>", ...}

Only reads in this process are seen (not those of Ray or Flower worker processes).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from fedrobust.errors import DataError

# one set per open recorder; note_test_read is one truthiness check when none is open
_recorders: list[set[str]] = []


def note_test_read(owner: str) -> None:
    """Record that ``owner``'s ("public" or a client id) test split was read."""
    for reads in _recorders:
        reads.add(owner)


@contextmanager
def record_test_reads() -> Iterator[set[str]]:
    """The owners whose test split is read inside the ``with`` block (nested recorders all see them)."""
    reads: set[str] = set()
    _recorders.append(reads)
    try:
        yield reads
    finally:
        # by identity: two recorders with equal contents are still different recorders
        del _recorders[next(i for i, r in enumerate(_recorders) if r is reads)]


def assert_no_test_reads(reads: set[str], activity: str) -> None:
    """Fail, naming a few owners, when ``activity`` (a selection step) read test data."""
    if reads:
        owners = ", ".join(sorted(reads)[:5]) + (" ..." if len(reads) > 5 else "")
        raise DataError(f"{activity} read test data of {len(reads)} split owner(s) ({owners}); selection must read "
                        "validation only, test is for the final evaluation")
