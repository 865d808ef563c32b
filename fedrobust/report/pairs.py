"""Which federations a study compares, by label (``fedavg_ft``, ``fedavg_ft@public``).

Without a reference every pair is compared. With one (``report.compare_to: fedavg_ft``) the pairs
are the ones a two-table study reads: each algorithm against the reference from the same start
(the algorithm's effect), and each algorithm against itself from another start (the start's
effect, e.g. distillation: ``fedavg_ft - fedavg_ft@public``)."""

from __future__ import annotations

import itertools

START_SEPARATOR = "@"
DEFAULT_START = "student"


def split_label(label: str) -> tuple[str, str]:
    """(algorithm, start) of a federation label; the distilled student when none is named."""
    name, _, start = label.partition(START_SEPARATOR)
    return name, start or DEFAULT_START


def comparison_pairs(labels: list[str], reference: str | None = None) -> list[tuple[str, str]]:
    """Ordered (first, second) pairs; the difference reported is first minus second."""
    labels = list(dict.fromkeys(labels))
    if reference is None:
        return list(itertools.combinations(labels, 2))
    parts = {label: split_label(label) for label in labels}
    pairs = []
    for label, (name, start) in parts.items():
        against = next((other for other, (n, s) in parts.items() if n == reference and s == start), None)
        if against is not None and against != label:
            pairs.append((label, against))
    starts = list(dict.fromkeys(start for _, start in parts.values()))
    for first, second in itertools.combinations(starts, 2):
        for label, (name, start) in parts.items():
            other = next((o for o, (n, s) in parts.items() if n == name and s == second), None)
            if start == first and other is not None:
                pairs.append((label, other))
    return pairs
