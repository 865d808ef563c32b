"""Score one candidate: distil it with the base config's robust objectives on the search budget,
then measure it on the validation texts (held out of the public train split), never on test.

    val_natural_acc            accuracy on every validation text
    val_adversarial_acc        accuracy under the first threat of `evaluation.attacks` on a seeded sample of
                               `evaluation.examples` of them
    val_natural_acc_attacked   natural accuracy on that sample
    val_attack_success_rate, val_attacked (texts attacked)
    params, bytes_fp32, bytes_int8, latency_ms (batch 1, this process's torch threads)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from fedrobust.distill.compression import quantize_state_dict
from fedrobust.distill.config import DistillConfig, config_from_mapping
from fedrobust.distill.measure import latency_ms, size_bytes
from fedrobust.distill.pipeline import (
    STUDENT_DIR, DistillInputs, build_fitted_student, build_objectives, load_inputs, train_and_compress,
)
from fedrobust.evaluation import AttackEvalConfig, accuracy, evaluate_attack
from fedrobust.evaluation.metrics import ADVERSARIAL_ACC, ATTACK_SUCCESS_RATE, N_ATTACKED, NATURAL_ACC
from fedrobust.models import load_model, save_model
from fedrobust.models.io import FP32_WEIGHTS
from fedrobust.search.config import EvaluationSection


def attacked_metrics(
    model: Any, tokenizer: Any, texts: list[str], labels: list[int], settings: AttackEvalConfig, seed: int, prefix: str,
) -> dict[str, float]:
    """Natural accuracy on every text and the primary threat's numbers on its seeded sample, named
    ``<prefix>_*``."""
    threat, budget = settings.primary
    _, attack = evaluate_attack(model, tokenizer, texts, labels, attack=threat.attack, examples=settings.examples,
                                max_queries=threat.max_queries, seed=seed, **threat.options(budget))
    return {
        f"{prefix}_{NATURAL_ACC}": accuracy(model, tokenizer, texts, labels),
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

    def distill_config(self, student: dict[str, Any]) -> DistillConfig:
        return config_from_mapping({**self.base_mapping, "student": student})

    def inputs(self, config: DistillConfig) -> DistillInputs:
        # Every candidate shares the data, teacher, seed and train section: one split, one cache.
        if self._inputs is None:
            self._inputs = load_inputs(config)
        return self._inputs

    def validation(self, config: DistillConfig) -> tuple[list[str], list[int]]:
        return self.inputs(config).validation()

    def __call__(self, student: dict[str, Any], out_dir: str | Path) -> dict[str, float]:
        started = time.perf_counter()
        out_dir = Path(out_dir)
        config = self.distill_config(student)
        inputs = self.inputs(config)
        torch.manual_seed(config.seed)
        model, _ = build_fitted_student(config, inputs)
        objectives = build_objectives(config, inputs, model)
        train_and_compress(config, inputs, model, objectives)
        save_model(model, inputs.tokenizer, out_dir / STUDENT_DIR, extra_config={"distill_config": config.to_dict()})
        trained_s = time.perf_counter() - started

        reloaded, tokenizer = load_model(out_dir / STUDENT_DIR)
        texts, labels = self.validation(config)
        ev = self.evaluation
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        return {
            **attacked_metrics(reloaded, tokenizer, texts, labels, ev, config.seed, prefix="val"),
            "params": int(model.num_parameters()),
            "bytes_fp32": size_bytes(out_dir / STUDENT_DIR / FP32_WEIGHTS),
            "bytes_int8": len(safetensors_bytes(quantize_state_dict(state))),
            "latency_ms": latency_ms(reloaded, tokenizer, texts, ev.latency_examples),
            "train_seconds": trained_s,
            "seconds": time.perf_counter() - started,
            "torch_threads": torch.get_num_threads(),
        }
