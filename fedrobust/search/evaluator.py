"""Score one candidate: distil it with the base config's robust objectives on the search budget,
then measure it on the validation texts (held out of the public train split), never on test.

    val_natural_acc          accuracy on every validation text
    val_adv_acc              accuracy under `evaluation.attack` on a seeded sample of them
    val_clean_acc_attacked   natural accuracy on that sample
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
from fedrobust.distill.measure import accuracy, latency_ms, size_bytes
from fedrobust.distill.pipeline import (
    STUDENT_DIR, DistillInputs, build_fitted_student, build_objectives, load_inputs, train_and_compress,
)
from fedrobust.evaluation import evaluate_attack
from fedrobust.models import load_model, save_model
from fedrobust.models.io import FP32_WEIGHTS
from fedrobust.search.config import EvaluationSection


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
        inputs = self.inputs(config)
        texts = [inputs.public.train_texts[i] for i in inputs.val_idx.tolist()]
        labels = [int(inputs.public.train_labels[i]) for i in inputs.val_idx.tolist()]
        return texts, labels

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
        _, attack = evaluate_attack(
            reloaded, tokenizer, texts, labels, attack=ev.attack, max_examples=ev.attack_examples,
            max_queries=ev.max_queries, seed=config.seed,
        )
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        return {
            "val_natural_acc": accuracy(reloaded, tokenizer, texts, labels),
            "val_adv_acc": float(attack["adv_acc"]),
            "val_clean_acc_attacked": float(attack["clean_acc"]),  # natural accuracy on the attacked sample
            "val_attack_success_rate": float(attack["attack_success_rate"]),
            "val_attacked": int(attack["num_examples"]),
            "params": int(model.num_parameters()),
            "bytes_fp32": size_bytes(out_dir / STUDENT_DIR / FP32_WEIGHTS),
            "bytes_int8": len(safetensors_bytes(quantize_state_dict(state))),
            "latency_ms": latency_ms(reloaded, tokenizer, texts, ev.latency_examples),
            "train_seconds": trained_s,
            "seconds": time.perf_counter() - started,
            "torch_threads": torch.get_num_threads(),
        }
