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
from fedrobust.attacks.budgets import records_within
from fedrobust.errors import ConfigError, DataError
from fedrobust.evaluation.attack_summary import summarize_attack
from fedrobust.evaluation.config import AttackEvalConfig, ThreatModel, threat_label
from fedrobust.evaluation.sampling import sample_indices
from fedrobust.models.base import TextClassifier

if TYPE_CHECKING:  # fedrobust.data imports `datasets`; evaluation should not pay for it
    from fedrobust.data import ClientData

SPLITS = ("train", "validation", "test")  # ClientData.split's names


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


def attack_at_budgets(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], threat: ThreatModel, seed: int,
) -> dict[float, tuple[list[AttackRecord], dict[str, Any]]]:
    """``threat``'s attack at each of its word budgets on all ``texts``: budget -> (records, summary).

    Attacks whose search path does not depend on the word budget (``nested_word_budgets``: the
    fast greedy and beam searches stop at the first flip, a word limit only cuts the path short)
    run once at the largest budget, and the smaller budgets are read off their records; others
    run once per budget."""
    budgets = threat.budgets
    runner = build_attack(threat.attack, model, tokenizer, max_queries=threat.max_queries, seed=seed,
                          **threat.options(budgets[-1]))
    results: dict[float, tuple[list[AttackRecord], dict[str, Any]]] = {}
    if getattr(runner, "nested_word_budgets", False):
        records, elapsed, cpu = _timed_attack(runner, texts, labels)
        for budget in budgets:
            within = records if budget == budgets[-1] else records_within(records, max_word_fraction=budget)
            results[budget] = within, summarize_attack(within, elapsed, cpu, seed=seed)
        return results
    for budget in budgets:
        if budget != budgets[-1]:
            runner = build_attack(threat.attack, model, tokenizer, max_queries=threat.max_queries, seed=seed,
                                  **threat.options(budget))
        records, elapsed, cpu = _timed_attack(runner, texts, labels)
        results[budget] = records, summarize_attack(records, elapsed, cpu, seed=seed)
    return results


def evaluate_threats(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], settings: AttackEvalConfig,
    seed: int,
) -> dict[str, tuple[list[AttackRecord], dict[str, Any]]]:
    """Every threat of ``settings`` on the same seeded sample of ``settings.examples`` texts:
    ``fast_pwws@0.1`` -> (records, summary with the attack, budget and query cap)."""
    if len(texts) != len(labels):
        raise DataError(f"evaluate_threats got {len(texts)} texts but {len(labels)} labels")
    chosen = sample_indices(len(texts), settings.examples, seed)
    sample_texts, sample_labels = [texts[i] for i in chosen], [int(labels[i]) for i in chosen]
    results: dict[str, tuple[list[AttackRecord], dict[str, Any]]] = {}
    for threat in settings.attacks:
        for budget, (records, summary) in attack_at_budgets(model, tokenizer, sample_texts, sample_labels, threat,
                                                            seed).items():
            info = {"attack": threat.attack, "word_budget": budget, "max_queries": threat.max_queries,
                    "max_edit_distance": threat.max_edit_distance, "seed": seed}
            results[threat_label(threat.attack, budget)] = records, {**info, **summary}
    return results


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
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    runner = _resolve_attack(attack, model, tokenizer, max_queries, seed, attack_options)
    owners: list[tuple[str, int]] = []
    texts: list[str] = []
    labels: list[int] = []
    for client in clients:
        client_texts, client_labels = client.split(split)
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
