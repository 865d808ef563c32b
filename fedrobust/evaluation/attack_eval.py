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

import numpy as np

from fedrobust.attacks import ATTACKS, Attack, AttackRecord, build_attack
from fedrobust.attacks.budgets import records_within
from fedrobust.attacks.randomness import Stream
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


def _timed_attack(
    attack: Attack, texts: Sequence[str], labels: Sequence[int], streams: Sequence[Stream] | None = None,
) -> tuple[list[AttackRecord], float, float]:
    """Records, wall seconds and CPU seconds of this process (less sensitive to other load)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    if not texts:
        records = []
    elif streams is None:
        records = attack.attack(texts, labels)
    else:
        records = attack.attack(texts, labels, streams=streams)  # type: ignore[call-arg]
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


def _records_at_budgets(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], threat: ThreatModel, seed: int,
    streams: Sequence[Stream] | None = None,
) -> dict[float, tuple[list[AttackRecord], float, float]]:
    """``threat``'s attack at each of its word budgets: budget -> (records, wall s, CPU s).

    Attacks whose search path does not depend on the word budget (``nested_word_budgets``: the
    fast greedy and beam searches stop at the first flip, a word limit only cuts the path short)
    run once at the largest budget, and the smaller budgets are read off their records; others
    run once per budget. ``streams``: each example's random stream, for an attack that
    ``pools_streams`` (the caller checks)."""
    budgets = threat.budgets
    runner = build_attack(threat.attack, model, tokenizer, max_queries=threat.max_queries, seed=seed,
                          **threat.options(budgets[-1]))
    if getattr(runner, "nested_word_budgets", False):
        records, elapsed, cpu = _timed_attack(runner, texts, labels, streams)
        return {budget: (records if budget == budgets[-1] else records_within(records, max_word_fraction=budget),
                         elapsed, cpu) for budget in budgets}
    results: dict[float, tuple[list[AttackRecord], float, float]] = {}
    for budget in budgets:
        if budget != budgets[-1]:
            runner = build_attack(threat.attack, model, tokenizer, max_queries=threat.max_queries, seed=seed,
                                  **threat.options(budget))
        results[budget] = _timed_attack(runner, texts, labels, streams)
    return results


def attack_at_budgets(
    model: TextClassifier, tokenizer: Any, texts: Sequence[str], labels: Sequence[int], threat: ThreatModel, seed: int,
) -> dict[float, tuple[list[AttackRecord], dict[str, Any]]]:
    """``threat``'s attack at each of its word budgets on all ``texts``: budget -> (records, summary)."""
    return {budget: (records, summarize_attack(records, elapsed, cpu, seed=seed))
            for budget, (records, elapsed, cpu) in _records_at_budgets(model, tokenizer, texts, labels, threat,
                                                                        seed).items()}


def _threat_info(threat: ThreatModel, budget: float, seed: int) -> dict[str, Any]:
    return {"attack": threat.attack, "word_budget": budget, "max_queries": threat.max_queries,
            "max_edit_distance": threat.max_edit_distance, "seed": seed}


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
            results[threat_label(threat.attack, budget)] = records, {**_threat_info(threat, budget, seed), **summary}
    return results


@dataclass(frozen=True)
class TextPool:
    """One caller's texts and seed (a device's test texts): what ``evaluate_threats`` would get."""

    texts: Sequence[str]
    labels: Sequence[int]
    seed: int


def evaluate_threats_pooled(
    model: TextClassifier, tokenizer: Any, pools: Sequence[TextPool], settings: AttackEvalConfig,
) -> list[dict[str, tuple[list[AttackRecord], dict[str, Any]]]]:
    """``evaluate_threats`` of one model on each pool, with each threat's attack run once over the
    samples of all pools together (one lockstep batch instead of one small batch per pool). Every
    example keeps the random stream it has in its own pool's call, so each pool's records are the
    ones ``evaluate_threats(model, tokenizer, pool.texts, pool.labels, settings, pool.seed)`` gives;
    an attack that cannot name streams (``pools_streams``) runs pool by pool. Wall and CPU time are
    shared out by examples."""
    for pool in pools:
        if len(pool.texts) != len(pool.labels):
            raise DataError(f"evaluate_threats_pooled got {len(pool.texts)} texts but {len(pool.labels)} labels")
    chosen = [sample_indices(len(pool.texts), settings.examples, pool.seed) for pool in pools]
    texts = [pool.texts[i] for pool, picked in zip(pools, chosen) for i in picked]
    labels = [int(pool.labels[i]) for pool, picked in zip(pools, chosen) for i in picked]
    streams = [(pool.seed, k) for pool, picked in zip(pools, chosen) for k in range(len(picked))]
    bounds = np.cumsum([0] + [len(picked) for picked in chosen])
    results: list[dict[str, tuple[list[AttackRecord], dict[str, Any]]]] = [{} for _ in pools]
    for threat in settings.attacks:
        if not getattr(ATTACKS.get(threat.attack), "pools_streams", False):
            for out, pool, picked in zip(results, pools, chosen):
                sample = [pool.texts[i] for i in picked], [int(pool.labels[i]) for i in picked]
                for budget, (records, summary) in attack_at_budgets(model, tokenizer, *sample, threat, pool.seed).items():
                    out[threat_label(threat.attack, budget)] = records, {**_threat_info(threat, budget, pool.seed), **summary}
            continue
        for budget, (records, elapsed, cpu) in _records_at_budgets(model, tokenizer, texts, labels, threat, 0,
                                                                    streams).items():
            share = 1 / max(len(records), 1)
            for out, pool, a, b in zip(results, pools, bounds[:-1], bounds[1:]):
                own = records[a:b]
                summary = summarize_attack(own, elapsed * len(own) * share, cpu * len(own) * share, seed=pool.seed)
                out[threat_label(threat.attack, budget)] = own, {**_threat_info(threat, budget, pool.seed), **summary}
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
