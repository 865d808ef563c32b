"""Natural accuracy and accuracy under attack, for one pool of examples or per client, with the
per-example records and 95% intervals (fedrobust.evaluation.measure gives the bare numbers).

    records, summary = evaluate_attack(model, tokenizer, texts, labels, attack="fast_deepwordbug", examples=200)
    rows, per_client, summary = evaluate_clients(model, tokenizer, clients, attack="fast_deepwordbug",
                                                 per_client=20)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from fedrobust.attacks import Attack, AttackRecord, build_attack
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation.attack_summary import summarize_attack
from fedrobust.evaluation.sampling import sample_indices
from fedrobust.models.base import TextClassifier

if TYPE_CHECKING:  # fedrobust.data imports `datasets`; evaluation should not pay for it
    from fedrobust.data import ClientData


@dataclass
class ClientAttackRecord:
    """An AttackRecord with the client it came from and its position in that client's split."""

    client_id: str
    example_index: int
    record: AttackRecord

    def to_row(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "example_index": self.example_index, **self.record.to_dict()}


def _resolve_attack(
    attack: str | Attack, model: TextClassifier, tokenizer: Any, max_queries: int | None, seed: int, options: dict[str, Any]
) -> Attack:
    if isinstance(attack, Attack):
        return attack
    return build_attack(attack, model, tokenizer, max_queries=max_queries, seed=seed, **options)


def _timed_attack(attack: Attack, texts: Sequence[str], labels: Sequence[int]) -> tuple[list[AttackRecord], float, float]:
    """Records, wall seconds and CPU seconds of this process (less sensitive to other load)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    records = attack.attack(texts, labels) if texts else []
    return records, time.perf_counter() - start, time.process_time() - cpu_start


def _attack_info(attack: Attack, max_queries: int | None, seed: int) -> dict[str, Any]:
    return {"attack": attack.name, "max_queries": max_queries, "seed": seed}


def evaluate_attack(
    model: TextClassifier,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    attack: str | Attack = "fast_deepwordbug",
    *,
    examples: int | None = None,
    max_queries: int | None = None,
    seed: int = 0,
    **attack_options: Any,
) -> tuple[list[AttackRecord], dict[str, Any]]:
    """Attack a seeded sample of ``examples`` texts (None: all); summary keys: see summarize_attack
    (natural_acc is that of the attacked sample)."""
    if len(texts) != len(labels):
        raise DataError(f"evaluate_attack got {len(texts)} texts but {len(labels)} labels")
    runner = _resolve_attack(attack, model, tokenizer, max_queries, seed, attack_options)
    chosen = sample_indices(len(texts), examples, seed)
    sample_texts, sample_labels = [texts[i] for i in chosen], [int(labels[i]) for i in chosen]
    records, elapsed, cpu = _timed_attack(runner, sample_texts, sample_labels)
    summary = {**_attack_info(runner, max_queries, seed), **summarize_attack(records, elapsed, cpu, seed=seed)}
    return records, summary


def evaluate_clients(
    model: TextClassifier,
    tokenizer: Any,
    clients: Iterable[ClientData],
    attack: str | Attack = "fast_deepwordbug",
    *,
    per_client: int | None = None,
    split: str = "test",
    max_queries: int | None = None,
    seed: int = 0,
    **attack_options: Any,
) -> tuple[list[ClientAttackRecord], list[dict[str, Any]], dict[str, Any]]:
    """Attack up to ``per_client`` examples of every client's split in one batched call.

    Returns per-example rows, one summary per client (client_id first) and the pooled summary.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    runner = _resolve_attack(attack, model, tokenizer, max_queries, seed, attack_options)
    owners: list[tuple[str, int]] = []
    texts: list[str] = []
    labels: list[int] = []
    for client in clients:
        client_texts = client.test_texts if split == "test" else client.train_texts
        client_labels = client.test_labels if split == "test" else client.train_labels
        for i in sample_indices(len(client_texts), per_client, seed):
            owners.append((client.client_id, i))
            texts.append(client_texts[i])
            labels.append(int(client_labels[i]))
    records, elapsed, cpu = _timed_attack(runner, texts, labels)
    rows = [ClientAttackRecord(cid, i, r) for (cid, i), r in zip(owners, records)]
    by_client: dict[str, list[AttackRecord]] = {}
    for row in rows:
        by_client.setdefault(row.client_id, []).append(row.record)
    per_client_summaries = [
        {"client_id": cid, **summarize_attack(recs, seed=seed)} for cid, recs in by_client.items()
    ]
    summary = {
        **_attack_info(runner, max_queries, seed),
        "num_clients": len(by_client),
        **summarize_attack(records, elapsed, cpu, seed=seed),
    }
    return rows, per_client_summaries, summary
