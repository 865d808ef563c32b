"""`fedrobust evaluate`: natural accuracy, accuracy under attack and explanation agreement of a saved model."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import platform
import time
from pathlib import Path
from typing import Any

from fedrobust.errors import ConfigError, DataError

log = logging.getLogger(__name__)

EXAMPLES_CSV = "examples.csv"
PER_CLIENT_CSV = "per_client.csv"
AGREEMENT_CSV = "explanation_agreement.csv"
SUMMARY_JSON = "summary.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from fedrobust.attacks import ATTACKS
    from fedrobust.config_schema import add_dataclass_flags
    from fedrobust.evaluation import AttackEvalConfig, ThreatModel
    from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, attribution_methods

    p = subparsers.add_parser(
        "evaluate",
        help="attack a saved model on a federated dataset: per-example CSV and summary.json",
        description="Writes OUT/examples.csv (one row per attacked example), OUT/summary.json "
        "(natural_acc, adversarial_acc, attack_success_rate, n_attacked, examples_per_s, ... with 95% intervals), "
        "OUT/per_client.csv for --split clients, and explanation agreement with --compare-to.",
    )
    p.add_argument("--model", required=True, type=Path, help="model folder written by save_model (student or teacher)")
    p.add_argument("--data", required=True, type=Path, help="prepared federated directory (fedrobust data prepare)")
    add_dataclass_flags(p, ThreatModel, helps={"attack": f"one of: {', '.join(ATTACKS.names())}"})
    add_dataclass_flags(p, AttackEvalConfig, skip=("attacks",), helps={
        "examples": "public split: a seeded sample of this many test texts is attacked; none: all"})
    p.add_argument("--split", choices=("public", "clients"), default="public",
                   help="public: the server's test split; clients: every device client's test split")
    p.add_argument("--per-client", type=int, default=None, help="clients split: at most this many test examples per client")
    p.add_argument("--max-clients", type=int, default=None, help="clients split: only the first N clients")
    p.add_argument("--compare-to", type=Path, default=None,
                   help="second model folder (e.g. the teacher): explanation agreement on the clean examples")
    p.add_argument("--top-k", type=int, default=5, help="k of the top-k attribution overlap")
    p.add_argument("--attribution", choices=attribution_methods(), default=DEFAULT_ATTRIBUTION,
                   help="explanation agreement: token attributions of both models by this method "
                        "(integrated_gradients: 32 steps from a [PAD] baseline)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=run_evaluate)


def _check_args(args: argparse.Namespace) -> None:
    from fedrobust.evaluation import AttackEvalConfig

    if args.split == "clients" and args.examples != AttackEvalConfig().examples:
        raise ConfigError("--examples applies to --split public; for clients use --per-client and --max-clients")
    if args.split == "public" and (args.per_client is not None or args.max_clients is not None):
        raise ConfigError("--per-client/--max-clients apply to --split clients; for public use --examples")
    for flag in ("examples", "per_client", "max_clients", "top_k"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Spread [low, high] intervals over two CSV columns."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_ci95") and isinstance(value, (list, tuple)):
            out[f"{key}_low"], out[f"{key}_high"] = value
        else:
            out[key] = value
    return out


def _environment() -> dict[str, str]:
    versions = {"python": platform.python_version(), "machine": platform.machine()}
    for package in ("torch", "transformers", "textattack", "nltk"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def run_evaluate(args: argparse.Namespace) -> int:
    from fedrobust.config_schema import dataclass_from_args
    from fedrobust.data import FederatedDataset
    from fedrobust.evaluation import (
        AttackEvalConfig,
        ThreatModel,
        evaluate_clients,
        evaluate_threats,
        explanation_agreement,
        write_records_csv,
        write_summary_json,
    )
    from fedrobust.evaluation.config import threat_label
    from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED, NATURAL_ACC
    from fedrobust.models.io import load_model

    _check_args(args)
    threat = dataclass_from_args(ThreatModel, args)
    settings = AttackEvalConfig(attacks=[threat], examples=args.examples)
    settings.validate("evaluate")  # unknown attacks and impossible budgets fail before anything is loaded
    dataset = FederatedDataset.load(args.data)
    model, tokenizer = load_model(args.model)
    if model.num_labels != dataset.num_labels:
        raise DataError(
            f"{args.model} predicts {model.num_labels} labels but {args.data} has {dataset.num_labels}; "
            "evaluate a model trained on this dataset"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    by_threat: dict[str, Any] = {}
    example_rows: list[dict[str, Any]] = []
    client_rows: list[dict[str, Any]] = []

    if args.split == "public":
        public = dataset.public()
        for label, (records, threat_summary) in evaluate_threats(
                model, tokenizer, public.test_texts, public.test_labels, settings, args.seed).items():
            by_threat[label] = threat_summary
            example_rows += [{"threat": label, **r.to_dict()} for r in records]
    else:
        client_ids = dataset.client_ids[: args.max_clients] if args.max_clients else dataset.client_ids
        for budget in threat.budgets:
            label = threat_label(threat.attack, budget)
            rows, per_client, threat_summary = evaluate_clients(
                model, tokenizer, (dataset.client(c) for c in client_ids), threat.attack,
                per_client=args.per_client, max_queries=threat.max_queries, seed=args.seed, **threat.options(budget),
            )
            by_threat[label] = {"word_budget": budget, **threat_summary}
            example_rows += [{"threat": label, **r.to_row()} for r in rows]
            client_rows += [{"threat": label, **_flat(s)} for s in per_client]
        write_records_csv(client_rows, args.out / PER_CLIENT_CSV)
    write_records_csv(example_rows, args.out / EXAMPLES_CSV)
    primary = by_threat[settings.labels()[0]]
    primary_rows = [r for r in example_rows if r["threat"] == settings.labels()[0]]  # each attacked text once
    clean_texts, clean_labels = [r["text"] for r in primary_rows], [r["label"] for r in primary_rows]
    summary: dict[str, Any] = {**primary, "threats": by_threat}

    if args.compare_to is not None:
        other, other_tokenizer = load_model(args.compare_to)
        agreement_rows, agreement = explanation_agreement(
            model, other, tokenizer, clean_texts, k=args.top_k, targets=clean_labels,
            tokenizer_b=other_tokenizer, seed=args.seed, attribution=args.attribution,
        )
        write_records_csv(agreement_rows, args.out / AGREEMENT_CSV)
        summary["explanation_agreement"] = {"compare_to": str(args.compare_to), **agreement}

    summary["split"] = args.split
    summary["model"] = str(args.model)
    summary["data"] = str(args.data)
    summary["total_elapsed_s"] = time.perf_counter() - started
    summary["config"] = _config(args)
    summary["environment"] = _environment()
    write_summary_json(summary, args.out / SUMMARY_JSON)
    log.info(
        "%s on %s (%s, %d texts attacked): %s %.3f  %s %.3f  %s %.3f  %.1f examples/s -> %s",
        settings.labels()[0], args.model, args.split, summary[N_ATTACKED], NATURAL_ACC, summary[NATURAL_ACC],
        ADVERSARIAL_ACC, summary[ADVERSARIAL_ACC], ATTACK_SUCCESS_RATE, summary[ATTACK_SUCCESS_RATE],
        summary.get("examples_per_s", float("nan")), args.out / SUMMARY_JSON,
    )
    return 0
