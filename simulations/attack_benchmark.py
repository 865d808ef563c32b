"""Attack benchmark: TextAttack recipes vs the project's fast batched attacks, same model, same examples.

For every model (``--model DIR``, any folder written by ``fedrobust.models.io.save_model``; without
one, a small mean-pooled WordPiece embedding classifier is trained here for a minute) and every
attack, the same seeded sample of test examples is attacked and the table reports clean accuracy,
accuracy under attack (95% Wilson interval), attack success rate, mean queries and examples per
second. Each fast attack is paired with its TextAttack counterpart: the speed ratio and the
difference in accuracy under attack are the acceptance check (fast_deepwordbug: >= 10x faster,
within 3 points).

    python simulations/attack_benchmark.py --data /path/to/rotten_tomatoes_dir --max-examples 1000 \
        --out runs/attack_benchmark
    python simulations/attack_benchmark.py --data DIR --model runs/teacher/model --max-examples 100 ...
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fedrobust.attacks import ATTACKS, build_attack
from fedrobust.data import FederatedDataset
from fedrobust.evaluation import evaluate_attack, write_records_csv, write_summary_json
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED, NATURAL_ACC
from fedrobust.models.base import ClassifierOutput, TextClassifier
from fedrobust.models.io import load_model
from fedrobust.models.tokenizer import WordPieceTokenizer

log = logging.getLogger("attack_benchmark")

# fast attack -> its TextAttack counterpart on the same model and examples
PAIRS = {
    "fast_deepwordbug": "textattack:deepwordbug",
    "fast_pwws": "textattack:pwws",
    "fast_hotflip": "textattack:hotflip_offline",
}
DEFAULT_ATTACKS = [
    "fast_deepwordbug", "textattack:deepwordbug", "fast_pwws", "textattack:pwws", "fast_hotflip",
    "textattack:hotflip_offline", "textattack:pruthi", "textattack:embedding_swap",
]


class MeanPoolClassifier(TextClassifier):
    """Baseline for when no trained student is given: mean of token embeddings -> MLP."""

    def __init__(self, vocab_size: int, num_labels: int, dim: int = 64) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, num_labels))

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        mask = attention_mask.unsqueeze(-1).to(embeddings.dtype)
        pooled = (embeddings * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return ClassifierOutput(logits=self.head(pooled), features=pooled)

    def input_embedding_weight(self) -> torch.Tensor:
        return self.embedding.weight


def train_baseline(texts: list[str], labels: list[int], num_labels: int, epochs: int, seed: int) -> tuple[TextClassifier, Any]:
    tokenizer = WordPieceTokenizer.from_pretrained(max_length=64)
    torch.manual_seed(seed)
    model = MeanPoolClassifier(tokenizer.vocab_size, num_labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    y = torch.tensor(labels)
    for epoch in range(epochs):
        order = torch.randperm(len(texts))
        total = 0.0
        for start in range(0, len(texts), 64):
            idx = order[start : start + 64].tolist()
            batch = tokenizer([texts[i] for i in idx])
            loss = nn.functional.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        log.info("baseline epoch %d: train loss %.3f", epoch + 1, total / len(texts))
    return model.eval(), tokenizer


def pooled(dataset: FederatedDataset, split: str) -> tuple[list[str], list[int]]:
    """The public split's ``split`` ("train" or "test") followed by every client's."""
    texts: list[str] = []
    labels: list[int] = []
    for data in [dataset.public()] + [dataset.client(c) for c in dataset.client_ids]:
        texts += getattr(data, f"{split}_texts")
        labels += getattr(data, f"{split}_labels")
    return texts, labels


def parse_attack_spec(spec: str, default_examples: int) -> tuple[str, int]:
    name, _, count = spec.partition("=")
    ATTACKS.get(name)  # fail early on a typo
    return name, int(count) if count else default_examples


def run_attack(name: str, max_examples: int, model: TextClassifier, tokenizer: Any, texts: list[str], labels: list[int],
               warmup: list[tuple[str, int]], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    attack = build_attack(name, model, tokenizer, max_queries=args.max_queries, seed=args.seed)
    attack.attack([t for t, _ in warmup], [y for _, y in warmup])  # loads WordNet, fills lazy caches
    setup_s = time.perf_counter() - started
    records, summary = evaluate_attack(model, tokenizer, texts, labels, attack,
                                       examples=max_examples, max_queries=args.max_queries, seed=args.seed)
    summary["setup_s"] = setup_s
    write_records_csv((r.to_dict() for r in records), out / name.replace(":", "_") / "examples.csv")
    write_summary_json(summary, out / name.replace(":", "_") / "summary.json")
    log.info("  %-26s clean %.3f  adv %.3f  success %.3f  queries %6.1f  %8.1f ex/s  (%.0f s)",
             name, summary[NATURAL_ACC], summary[ADVERSARIAL_ACC], summary[ATTACK_SUCCESS_RATE],
             summary["mean_queries"], summary["examples_per_s"], summary["elapsed_s"])
    return summary


def comparisons(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for fast, reference in PAIRS.items():
        if fast in results and reference in results:
            f, r = results[fast], results[reference]
            rows.append({
                "fast": fast, "textattack": reference,
                "speedup": f["examples_per_s"] / r["examples_per_s"],
                "cpu_speedup": f["examples_per_cpu_s"] / r["examples_per_cpu_s"],
                "adv_acc_fast": f[ADVERSARIAL_ACC], "adv_acc_textattack": r[ADVERSARIAL_ACC],
                "adv_acc_diff_points": 100 * (f[ADVERSARIAL_ACC] - r[ADVERSARIAL_ACC]),
                "mean_queries_fast": f["mean_queries"], "mean_queries_textattack": r["mean_queries"],
            })
    return rows


def markdown_table(all_results: dict[str, dict[str, dict[str, Any]]], all_pairs: dict[str, list[dict]]) -> str:
    lines = [
        "| model | attack | n | clean acc | acc under attack (95% CI) | success rate | mean queries | examples/s | examples/CPU-s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for model_name, results in all_results.items():
        for name, s in results.items():
            low, high = s[ADVERSARIAL_ACC + "_ci95"]
            lines.append(
                f"| {model_name} | {name} | {s[N_ATTACKED]} | {s[NATURAL_ACC]:.3f} | {s[ADVERSARIAL_ACC]:.3f} "
                f"({low:.3f}-{high:.3f}) | {s[ATTACK_SUCCESS_RATE]:.3f} | {s['mean_queries']:.1f} | {s['examples_per_s']:.1f} "
                f"| {s['examples_per_cpu_s']:.1f} |"
            )
    lines += ["", "| model | fast | textattack | speedup (wall) | speedup (CPU) | acc under attack fast - textattack (points) |",
              "|---|---|---|---|---|---|"]
    for model_name, rows in all_pairs.items():
        for row in rows:
            lines.append(f"| {model_name} | {row['fast']} | {row['textattack']} | {row['speedup']:.1f}x | {row['cpu_speedup']:.1f}x "
                         f"| {row['adv_acc_diff_points']:+.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path, help="prepared federated directory (fedrobust data prepare)")
    parser.add_argument("--model", action="append", type=Path, default=[], help="saved model folder (repeatable)")
    parser.add_argument("--attacks", nargs="+", default=DEFAULT_ATTACKS,
                        help=f"NAME or NAME=N (N examples for this attack), NAME one of: {', '.join(ATTACKS.names())}")
    parser.add_argument("--max-examples", type=int, default=1000, help="seeded sample of the test pool (default for every attack)")
    parser.add_argument("--max-queries", type=int, default=None)
    parser.add_argument("--baseline-epochs", type=int, default=4, help="epochs of the baseline trained without --model")
    # Every attack gets the same thread count: TextAttack as torch intra-op threads, the fast
    # word-swap attacks as that many shards with one torch thread each (fedrobust.attacks.sharding).
    # On a machine shared with other jobs, prefer 1: two OpenMP threads spin-wait at every small op
    # (a GRU step) and can run 10-25x slower there.
    parser.add_argument("--threads", type=int, default=2, help="threads for every attack (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/attack_benchmark"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    specs = [parse_attack_spec(spec, args.max_examples) for spec in args.attacks]
    dataset = FederatedDataset.load(args.data)
    texts, labels = pooled(dataset, "test")
    train_texts, train_labels = pooled(dataset, "train")
    warmup = list(zip(train_texts[:4], train_labels[:4]))
    models: dict[str, tuple[TextClassifier, Any]] = {}
    if args.model:
        for folder in args.model:
            models[folder.name if folder.name != "model" else folder.parent.name] = load_model(folder)
    else:
        log.info("no --model: training the mean-pooled WordPiece baseline on %d examples", len(train_texts))
        models["meanpool_baseline"] = train_baseline(train_texts, train_labels, dataset.num_labels, args.baseline_epochs, args.seed)

    all_results: dict[str, dict[str, dict[str, Any]]] = {}
    all_pairs: dict[str, list[dict]] = {}
    for model_name, (model, tokenizer) in models.items():
        log.info("%s (%d parameters): test pool of %d examples from %s", model_name, model.num_parameters(),
                 len(texts), args.data)
        results = {name: run_attack(name, n, model, tokenizer, texts, labels, warmup, args, args.out / model_name)
                   for name, n in specs}
        all_results[model_name] = results
        all_pairs[model_name] = comparisons(results)
    table = (
        f"Threads: {args.threads} for every attack (TextAttack: torch intra-op threads; fast word-swap attacks: "
        f"{args.threads} shards of one torch thread each); {os.cpu_count()} CPUs visible.\n\n"
    )
    table += markdown_table(all_results, all_pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table)
    (args.out / "table.json").write_text(json.dumps({"results": all_results, "pairs": all_pairs,
                                                      "args": {k: str(v) for k, v in vars(args).items()}}, indent=2))
    print(table)


if __name__ == "__main__":
    main()
