"""`fedrobust search-final OUT`: the front of a finished search and the hand-designed student,
re-trained at the full distill budget once per seed and judged on the public test split.

    OUT/final/<student key>/seed<s>/   the re-trained student (`fedrobust distill`'s folder) and
                                       scores.json: per test text, right (1) or wrong (0), naturally
                                       and under each threat of `final.attacks` (one seeded sample)
    OUT/final_seeds.json               per student mean +/- sd over seeds of test natural accuracy and
                                       accuracy under each attack, the paired differences to the
                                       reference with intervals (fedrobust.search.compare), the
                                       verdict of each and one sentence

The search's selection was made on validation texts; this phase reads test texts and nothing reads
its numbers back into a selection. A re-training whose scores.json matches the settings is reused.
The trials run on config key `execution`'s backend; each trains as `fedrobust distill` does (with
the distill config's ``train.threads``), so a student is the one `fedrobust distill` gives for it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch

from fedrobust.data import FederatedDataset
from fedrobust.distill.config import config_from_mapping as distill_config_from_mapping
from fedrobust.distill.pipeline import STUDENT_DIR, run_distill
from fedrobust.errors import ConfigError
from fedrobust.evaluation import evaluate_attack, predict
from fedrobust.evaluation.config import ThreatModel, threat_label
from fedrobust.models import load_model
from fedrobust.search.compare import RULE, judge, paired_difference, seed_summary, verdict_sentence
from fedrobust.search.config import SearchConfig
from fedrobust.search.execution import Trial, make_executor
from fedrobust.search.holdout import PARETO_FILE, stored_config
from fedrobust.search.space import student_key
from fedrobust.search.store import write_json_atomic

log = logging.getLogger(__name__)

FINAL_DIR, SCORES_FILE, FINAL_SEEDS_FILE = "final", "scores.json", "final_seeds.json"
OVERRIDABLE = ("final.", "execution.", "threads")


def retrain_and_score(
    mapping: dict[str, Any], attacks: list[ThreatModel], examples: int | None, sample_seed: int, out_dir: Path,
) -> dict[str, Any]:
    """Distil ``mapping`` into out_dir, then score it on every public test text and, under each
    threat, on the seeded sample of ``examples`` of them (the same texts for every student and seed)."""
    config = distill_config_from_mapping(mapping)
    metrics = run_distill(config, out_dir)
    model, tokenizer = load_model(Path(out_dir) / STUDENT_DIR)
    public = FederatedDataset.load(config.data).public()
    texts, labels = list(public.test_texts), [int(y) for y in public.test_labels]
    natural = (predict(model, tokenizer, texts) == torch.tensor(labels)).int().tolist()
    robust = {}
    for threat in attacks:
        for budget in threat.budgets:
            records, _ = evaluate_attack(model, tokenizer, texts, labels, attack=threat.attack, examples=examples,
                                         max_queries=threat.max_queries, seed=sample_seed, **threat.options(budget))
            robust[threat_label(threat.attack, budget)] = [int(r.result == "failed") for r in records]
    return {"params": int(metrics["student"]["params"]), "val_natural_acc": metrics["student"]["val_natural_acc"],
            "natural": natural, "robust": robust}


def final_config(out_dir: Path, overrides: dict[str, Any] | None = None) -> SearchConfig:
    """The search's stored config with ``final.*`` / ``execution.*`` / ``threads`` overrides."""
    for key in overrides or {}:
        if not key.startswith(OVERRIDABLE):
            raise ConfigError(f"--set {key}: search-final may change final.*, execution.* and threads only "
                              "(the rest belongs to the finished search)")
    return stored_config(out_dir, overrides)


def _members(pareto: dict[str, Any]) -> list[dict[str, Any]]:
    """The reference first, then the front's distinct students."""
    members, seen = [], set()
    for role, entry in [("reference", pareto.get("reference"))] + [("front", e) for e in pareto["front"]]:
        if entry is None:
            continue
        key = student_key(entry["student"])
        if key not in seen:
            seen.add(key)
            members.append({"role": role, "key": key, "search_key": entry["key"], "student": entry["student"]})
    return members


def _settings(config: SearchConfig, mapping: dict[str, Any]) -> dict[str, Any]:
    final = config.final
    return json.loads(json.dumps({"distill": mapping, "attacks": [dataclasses.asdict(t) for t in final.attacks],
                                  "examples": final.examples, "sample_seed": config.seed}))


def _cached(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return stored["scores"] if isinstance(stored, dict) and stored.get("settings") == settings else None


def search_final(out_dir: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Re-train, score and judge; writes and returns OUT/final_seeds.json."""
    out_dir = Path(out_dir)
    pareto_path = out_dir / PARETO_FILE
    if not pareto_path.is_file():
        raise ConfigError(f"{pareto_path} not found: the search has not finished; run `fedrobust search --out {out_dir}` "
                          "to the end first")
    config, pareto = final_config(out_dir, overrides), json.loads(pareto_path.read_text())
    if not pareto.get("reference"):
        raise ConfigError(f"{pareto_path} has no hand-designed reference (config key reference: false); rerun the "
                          "search with reference: true")
    config.final.check_attacks()
    members, seeds = _members(pareto), config.final.seeds
    jobs, scores = [], {}
    for member in members:
        for seed in seeds:
            mapping = config.final_distill_mapping(member["student"], seed)
            settings = _settings(config, mapping)
            path = out_dir / FINAL_DIR / member["key"] / f"seed{seed}"
            found = _cached(path / SCORES_FILE, settings)
            if found is None:
                jobs.append(((member["key"], seed), settings, Trial(
                    retrain_and_score, (mapping, config.final.attacks, config.final.examples, config.seed), path)))
            else:
                scores[member["key"], seed] = found
    log.info("search-final: %d re-trainings (%d reused) of %d students x %d seeds", len(jobs), len(scores),
             len(members), len(seeds))
    executor = make_executor(config.execution, config.threads)
    try:
        for i, result in executor.map([trial for _, _, trial in jobs]):
            ident, settings, trial = jobs[i]
            write_json_atomic(trial.out_dir / SCORES_FILE, {"settings": settings, "scores": result})
            scores[ident] = result
    finally:
        executor.close()
    result = summarize(config, members, scores, _budget(config, seeds))
    write_json_atomic(out_dir / FINAL_SEEDS_FILE, result)
    return result


def _budget(config: SearchConfig, seeds: list[int]) -> str:
    base = config.final.distill if config.final.distill is not None else config.distill
    train = base.get("train") or {}
    copies = ("no teacher-labelled copies" if train.get("use_augmented") is False
              else f"{train.get('max_augmented_copies', 'all')} teacher-labelled copies per text")
    return f"the full distill budget: {train.get('epochs', '?')} epochs, {copies}, seeds {', '.join(map(str, seeds))}"


def summarize(config: SearchConfig, members: list[dict[str, Any]], scores: dict[tuple[str, int], dict[str, Any]],
              budget: str) -> dict[str, Any]:
    """Per student mean +/- sd over seeds; per searched student the paired differences and the verdict."""
    final, seeds = config.final, config.final.seeds
    reference = members[0]

    def per_seed(key: str, part: str, label: str | None = None) -> list[list[int]]:
        return [scores[key, s][part] if label is None else scores[key, s][part][label] for s in seeds]

    labels = list(scores[reference["key"], seeds[0]]["robust"])
    students = []
    for member in members:
        key = member["key"]
        row = {**member, "params": scores[key, seeds[0]]["params"],
               "test_natural_acc": seed_summary([sum(v) / len(v) for v in per_seed(key, "natural")]),
               "test_robust_acc": {label: seed_summary([sum(v) / len(v) for v in per_seed(key, "robust", label)])
                                   for label in labels}}
        if member is not reference:
            options = {"confidence": final.confidence, "resamples": final.resamples, "seed": config.seed}
            row["natural"] = paired_difference(per_seed(key, "natural"), per_seed(reference["key"], "natural"), **options)
            row["robust"] = {label: paired_difference(per_seed(key, "robust", label),
                                                      per_seed(reference["key"], "robust", label), **options)
                             for label in labels}
            row["size_ratio"] = scores[reference["key"], seeds[0]]["params"] / max(1, row["params"])
            row["verdict"] = judge(row["natural"], row["robust"], row["params"], scores[reference["key"], seeds[0]]["params"],
                                   final.margin, final.size_ratio)
        students.append(row)
    searched = students[1:]
    return {
        "rule": RULE, "margin": final.margin, "size_ratio": final.size_ratio, "confidence": final.confidence,
        "seeds": seeds, "budget": budget, "attacks": labels,
        "test_texts": len(scores[reference["key"], seeds[0]]["natural"]),
        "attacked_texts": len(next(iter(scores[reference["key"], seeds[0]]["robust"].values()), [])),
        "students": students,
        "winners": [s["key"] for s in searched if s["verdict"]["wins"]],
        "verdict": verdict_sentence(searched, budget),
    }
