"""`fedrobust teacher`: fine-tune and cache the teacher for distillation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fedrobust.models.offline import DEFAULT_TEACHER


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("teacher", help="fine-tune a Hugging Face teacher on a dataset's public split")
    p.add_argument("--data", required=True, type=Path, help="prepared federated data folder (fedrobust data prepare)")
    p.add_argument("--out", required=True, type=Path, help="teacher folder: model/, metrics.json, cache")
    p.add_argument("--model", default=DEFAULT_TEACHER, help=f"hub name or local folder (default {DEFAULT_TEACHER})")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-length", type=int, default=48, help="WordPiece tokens per text, students too")
    p.add_argument("--max-train-examples", type=int, default=None, help="fine-tune on the first N public texts")
    p.add_argument("--mask-top-k", type=int, default=2, help="tokens masked for the cached GradMASK targets")
    p.add_argument("--augment-copies", type=int, default=0,
                   help="teacher-labelled augmented copies of each public text to cache for distillation")
    p.add_argument("--transfer", nargs="+", default=[], metavar="CORPUS",
                   help="unlabelled texts for the teacher to label for distillation: rotten_tomatoes_plots, "
                        "txt:PATH (one text per line) or a data source (airline_tweets, hf:NAME, csv:PATH)")
    p.add_argument("--transfer-max-texts", type=int, default=None, metavar="N",
                   help="a seeded sample of at most N texts from each transfer corpus")
    p.add_argument("--recache", action="store_true",
                   help="reuse the fine-tuned teacher already in --out and only recompute its cache")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fedrobust.distill.teacher_pipeline import TeacherOptions, recache_teacher, run_teacher

    options = TeacherOptions(
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
        max_train_examples=args.max_train_examples, mask_top_k=args.mask_top_k,
        augment_copies=args.augment_copies, transfer=args.transfer, transfer_max_texts=args.transfer_max_texts,
        seed=args.seed,
    )
    if args.recache:
        recache_teacher(args.data, args.out, options)
        return 0
    metrics = run_teacher(args.data, args.out, options)
    print(json.dumps(metrics["teacher"], indent=2))
    return 0
