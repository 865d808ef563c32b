"""Model artifacts: a folder with model.json, the weights (safetensors) and the tokenizer.

    model.json   {"name": registry name or "hf_teacher", "config": constructor config,
                  "weights": "fp32" | "int8", "low_rank": {module path: rank}, ...extra}
    model.safetensors | model.int8.safetensors | hf/ (teacher)
    tokenizer/

Students and the teacher load the same way: ``model, tokenizer = load_model(dir)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fedrobust.errors import DataError
import fedrobust.models.students  # noqa: F401  (registers the students)
from fedrobust.models.base import TextClassifier
from fedrobust.models.int8 import dequantize_state_dict, quantize_state_dict
from fedrobust.models.lowrank import LowRankLinear, replace_with_low_rank
from fedrobust.models.registry import build_student
from fedrobust.models.teacher import HFTeacher
from fedrobust.models.tokenizer import WordPieceTokenizer

MODEL_JSON = "model.json"
FP32_WEIGHTS = "model.safetensors"
INT8_WEIGHTS = "model.int8.safetensors"
TEACHER_WEIGHTS_DIR = "hf"
TOKENIZER_DIR = "tokenizer"


def low_rank_layout(model: torch.nn.Module) -> dict[str, int]:
    """Paths and ranks of the LowRankLinear modules, so a loader can rebuild the same structure."""
    return {name: m.rank for name, m in model.named_modules() if isinstance(m, LowRankLinear)}


def _constructor_low_rank(model: torch.nn.Module) -> dict[str, int]:
    fresh_layout = low_rank_layout(_build(model.registry_name, model.config))
    return {k: v for k, v in low_rank_layout(model).items() if k not in fresh_layout}


def _build(name: str, config: dict[str, Any]) -> TextClassifier:

    config = dict(config)
    return build_student(name, num_labels=config.pop("num_labels"), vocab_size=config.pop("vocab_size"), **config)


def save_model(
    model: TextClassifier,
    tokenizer: WordPieceTokenizer,
    out_dir: str | Path,
    extra_config: dict[str, Any] | None = None,
    weights: str = "fp32",
) -> Path:
    """Write ``model`` + ``tokenizer``; ``weights="int8"`` stores per-row int8 weights with scales."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = getattr(model, "registry_name", "")
    meta: dict[str, Any] = {"name": name, "config": model.config, "weights": weights, **(extra_config or {})}
    if name == "hf_teacher":
        model.save_pretrained(out_dir / TEACHER_WEIGHTS_DIR)
        meta["weights"] = "hf"
    else:
        meta["low_rank"] = _constructor_low_rank(model)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        if weights == "int8":

            save_file(quantize_state_dict(state), str(out_dir / INT8_WEIGHTS))
        elif weights == "fp32":
            save_file(state, str(out_dir / FP32_WEIGHTS))
        else:
            raise ValueError(f"weights must be 'fp32' or 'int8', got {weights!r}")
    tokenizer.save(out_dir / TOKENIZER_DIR)
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, indent=2))
    return out_dir


def weights_path(model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    for candidate in (FP32_WEIGHTS, INT8_WEIGHTS, TEACHER_WEIGHTS_DIR + "/model.safetensors"):
        if (model_dir / candidate).exists():
            return model_dir / candidate
    raise DataError(f"no weights in {model_dir}; expected {FP32_WEIGHTS} or {INT8_WEIGHTS}")


def load_model(model_dir: str | Path) -> tuple[TextClassifier, WordPieceTokenizer]:
    """Rebuild a model saved by ``save_model`` (eval mode) and its tokenizer."""
    model_dir = Path(model_dir)
    meta_path = model_dir / MODEL_JSON
    if not meta_path.exists():
        raise DataError(f"{meta_path} not found: not a fedrobust model folder (write one with `fedrobust distill`)")
    meta = json.loads(meta_path.read_text())
    tokenizer = WordPieceTokenizer.load(model_dir / TOKENIZER_DIR)
    if meta["name"] == "hf_teacher":

        model: TextClassifier = HFTeacher.from_pretrained(str(model_dir / TEACHER_WEIGHTS_DIR))
        model.config = dict(meta["config"])
    else:
        model = _build(meta["name"], meta["config"])
        replace_with_low_rank(model, meta.get("low_rank", {}), from_weights=False)
        if meta["weights"] == "int8":

            state = dequantize_state_dict(load_file(str(model_dir / INT8_WEIGHTS)))
        else:
            state = load_file(str(model_dir / FP32_WEIGHTS))
        model.load_state_dict(state)
    model.eval()
    return model, tokenizer
