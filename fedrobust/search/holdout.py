"""The final evaluation of a finished search: its selection scored on the public test split.

A search reads validation texts only (fedrobust.search.evaluator). Once it has written its
selection (OUT/pareto.json: the front, the hand-designed reference, the exported student), the
user runs this phase, `fedrobust search-test OUT`, which scores those students on the test split
and writes OUT/final_test.json. Nothing reads these numbers back into a selection; rerunning it
reuses the scores already there.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from fedrobust.config_schema import apply_overrides
from fedrobust.data import FederatedDataset
from fedrobust.errors import ConfigError
from fedrobust.models import load_model
from fedrobust.search.config import EvaluationSection, SearchConfig, config_from_mapping
from fedrobust.search.evaluator import attacked_metrics
from fedrobust.search.store import CONFIG_FILE, CandidateStore, write_json_atomic

PARETO_FILE, FINAL_TEST_FILE = "pareto.json", "final_test.json"
NOT_CONFIG_KEYS = ("evaluation_fingerprint", "test_front")  # stored beside the config (test_front: older searches)


def score_on_test(model_dir: str | Path, data_dir: str | Path, evaluation: EvaluationSection, seed: int) -> dict[str, Any]:
    """test_natural_acc on the whole test split, test_adversarial_acc (and the rest of
    attacked_metrics) on a seeded sample of `evaluation.test_examples` texts."""
    public = FederatedDataset.load(data_dir).public()
    texts, labels = list(public.test_texts), [int(y) for y in public.test_labels]
    model, tokenizer = load_model(model_dir)
    settings = dataclasses.replace(evaluation, examples=evaluation.test_examples)
    return {**attacked_metrics(model, tokenizer, texts, labels, settings, seed, prefix="test"),
            "test_examples": len(texts)}


def stored_config(out_dir: Path, overrides: dict[str, Any] | None = None) -> SearchConfig:
    """The resolved config a search wrote into its folder (with dotted ``overrides``)."""
    path = out_dir / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{out_dir} holds no {CONFIG_FILE}; give the --out folder of a `fedrobust search`")
    stored = yaml.safe_load(path.read_text()) or {}
    mapping = apply_overrides({k: v for k, v in stored.items() if k not in NOT_CONFIG_KEYS}, overrides)
    return config_from_mapping(mapping, out_dir)


def final_test(out_dir: str | Path) -> dict[str, Any]:
    """Score the finished search's front, reference and exported student on the public test split;
    writes and returns OUT/final_test.json ({"front": [...], "reference": ..., "exported": key},
    each entry its pareto.json entry plus ``test``)."""
    out_dir = Path(out_dir)
    pareto_path = out_dir / PARETO_FILE
    if not pareto_path.is_file():
        raise ConfigError(f"{pareto_path} not found: the search has not finished; run `fedrobust search --out {out_dir}` "
                          "to the end first")
    config, pareto = stored_config(out_dir), json.loads(pareto_path.read_text())
    store, data = CandidateStore(config.store or out_dir), config.distill_mapping["data"]
    seed = int(config.distill_mapping.get("seed", 0))
    final_path = out_dir / FINAL_TEST_FILE
    # the folder's evaluation settings cannot change (search_config.yaml), so a key's score stays valid
    scores: dict[str, Any] = json.loads(final_path.read_text())["scores"] if final_path.is_file() else {}
    for entry in pareto["front"] + ([pareto["reference"]] if pareto.get("reference") else []):
        if entry["key"] not in scores:
            scores[entry["key"]] = score_on_test(store.dir_for(entry["key"]) / "student", data, config.evaluation, seed)
            write_json_atomic(final_path, {"scores": scores})  # a killed phase keeps what it scored

    def with_test(entry: dict[str, Any]) -> dict[str, Any]:
        return {**entry, "test": scores[entry["key"]]}

    result = {
        "scores": scores,
        "front": [with_test(e) for e in pareto["front"]],
        "reference": with_test(pareto["reference"]) if pareto.get("reference") else None,
        "exported": (pareto.get("exported") or {}).get("key"),
        "test_examples_attacked": config.evaluation.test_examples,
    }
    write_json_atomic(final_path, result)
    return result
