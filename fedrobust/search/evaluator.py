"""Score one candidate: distil it with the base config's robust objectives on the search budget,
then measure it on the validation texts (held out of the public train split), never on test.

    val_natural_acc            accuracy on every validation text
    val_adversarial_acc        accuracy under the first threat of `evaluation.attacks` on a seeded sample of
                               `evaluation.examples` of them
    val_natural_acc_attacked   natural accuracy on that sample
    val_top_class_share        the share of validation texts predicted as the most predicted class
    val_constant               1 when that share is >= 0.9 (CONSTANT_SHARE): a (near-)constant classifier,
                               which no attack can flip; the search holds it infeasible (SearchConfig.bounds)
    val_attack_success_rate, val_attacked (texts attacked), val_examples (validation texts)
    params, bytes_fp32, bytes_int8, latency_ms (batch 1, the search's torch threads)

At a reduced budget (a multi-fidelity search, fedrobust.search.fidelity) the student trains for
fewer epochs or on a seeded share of the training texts; it is measured on the same validation texts.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from fedrobust.data import FederatedDataset
from fedrobust.distill.compression import quantize_state_dict
from fedrobust.distill.config import DistillConfig, config_from_mapping
from fedrobust.distill.measure import latency_ms, size_bytes
from fedrobust.distill.pipeline import (
    STUDENT_DIR, DistillInputs, build_fitted_student, build_objectives, load_inputs, train_and_compress,
)
from fedrobust.evaluation import AttackEvalConfig, evaluate_attack
from fedrobust.evaluation.measure import natural_metrics
from fedrobust.evaluation.metrics import (
    ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, CONSTANT, N_ATTACKED, NATURAL_ACC, TOP_CLASS_SHARE,
)
from fedrobust.models import load_model, save_model
from fedrobust.models.io import FP32_WEIGHTS
from fedrobust.search.config import EvaluationSection
from fedrobust.search.fidelity import Fidelity, apply_epochs, subsample_rows


def attacked_metrics(
    model: Any, tokenizer: Any, texts: list[str], labels: list[int], settings: AttackEvalConfig, seed: int, prefix: str,
) -> dict[str, float]:
    """Natural accuracy and the prediction profile on every text and the primary threat's numbers
    on its seeded sample, named ``<prefix>_*``."""
    threat, budget = settings.primary
    _, attack = evaluate_attack(model, tokenizer, texts, labels, attack=threat.attack, examples=settings.examples,
                                max_queries=threat.max_queries, seed=seed, **threat.options(budget))
    natural = natural_metrics(model, tokenizer, texts, labels, profile=True)
    return {
        f"{prefix}_{NATURAL_ACC}": natural[NATURAL_ACC],
        f"{prefix}_{TOP_CLASS_SHARE}": natural[TOP_CLASS_SHARE],
        f"{prefix}_{CONSTANT}": int(natural[CONSTANT]),
        f"{prefix}_{ADVERSARIAL_ACC}": float(attack[ADVERSARIAL_ACC]),
        f"{prefix}_{NATURAL_ACC}_attacked": float(attack[NATURAL_ACC]),  # natural accuracy on the attacked sample
        f"{prefix}_{ATTACK_SUCCESS_RATE}": float(attack[ATTACK_SUCCESS_RATE]),
        f"{prefix}_attacked": int(attack[N_ATTACKED]),
    }


class DistillEvaluator:
    """Callable ``(student config, out_dir) -> metrics``; data and teacher outputs are read once."""

    def __init__(self, base_mapping: dict[str, Any], evaluation: EvaluationSection) -> None:
        self.base_mapping, self.evaluation = base_mapping, evaluation
        self._inputs: DistillInputs | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_inputs": None}  # a Ray worker loads the data itself, once

    def distill_config(self, student: dict[str, Any], fidelity: Fidelity | None = None) -> DistillConfig:
        mapping = {**self.base_mapping, "student": student}
        return config_from_mapping(apply_epochs(mapping, fidelity) if fidelity is not None else mapping)

    def validation_sizes(self) -> dict[str, int]:
        """Validation texts (as the distill pipeline splits them) and how many of them are attacked,
        read before any work."""
        config = self.distill_config(self.base_mapping["student"])
        n_val = int(round(config.train.validation_fraction * len(FederatedDataset.load(config.data).public().train_texts)))
        examples = self.evaluation.examples
        return {"val_examples": n_val, "val_attacked": n_val if examples is None else min(examples, n_val)}

    def training_inputs(self, config: DistillConfig, fidelity: Fidelity | None) -> DistillInputs:
        """The inputs trained on at ``fidelity``'s share of the data (the same texts for every candidate)."""
        inputs = self.inputs(config)
        if fidelity is None or fidelity.data_fraction >= 1.0:
            return inputs
        texts, rows = subsample_rows(inputs.train_orig, inputs.train_idx, inputs.cache.get("source_index"),
                                     len(inputs.public.train_texts), fidelity.data_fraction, config.seed)
        return dataclasses.replace(inputs, train_orig=texts, train_idx=rows)

    def inputs(self, config: DistillConfig) -> DistillInputs:
        # Every candidate shares the data, teacher, seed and train section: one split, one cache.
        if self._inputs is None:
            self._inputs = load_inputs(config)
        return self._inputs

    def validation(self, config: DistillConfig) -> tuple[list[str], list[int]]:
        return self.inputs(config).validation()

    def __call__(self, student: dict[str, Any], out_dir: str | Path, fidelity: Fidelity | None = None) -> dict[str, float]:
        started = time.perf_counter()
        out_dir = Path(out_dir)
        config = self.distill_config(student, fidelity)
        inputs = self.inputs(config)
        trained_on = self.training_inputs(config, fidelity)
        torch.manual_seed(config.seed)
        model, _ = build_fitted_student(config, inputs)  # full data: the same architecture at every budget
        objectives = build_objectives(config, trained_on, model)
        train_and_compress(config, trained_on, model, objectives)
        save_model(model, inputs.tokenizer, out_dir / STUDENT_DIR, extra_config={"distill_config": config.to_dict()})
        trained_s = time.perf_counter() - started

        reloaded, tokenizer = load_model(out_dir / STUDENT_DIR)
        texts, labels = self.validation(config)
        ev = self.evaluation
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        return {
            **attacked_metrics(reloaded, tokenizer, texts, labels, ev, config.seed, prefix="val"),
            "val_examples": len(texts),
            "params": int(model.num_parameters()),
            "bytes_fp32": size_bytes(out_dir / STUDENT_DIR / FP32_WEIGHTS),
            "bytes_int8": len(safetensors_bytes(quantize_state_dict(state))),
            "latency_ms": latency_ms(reloaded, tokenizer, texts, ev.latency_examples),
            "train_seconds": trained_s,
            "seconds": time.perf_counter() - started,
            "torch_threads": torch.get_num_threads(),
        }
