"""Model artifacts: a folder with model.json, the weights (safetensors) and the tokenizer.

    model.json   {"name": registry name or "hf_teacher", "config": constructor config,
                  "weights": "fp32" | "int8" | "packed", "low_rank": {module path: rank}, ...extra}
    model.safetensors | model.int8.safetensors | model.packed.safetensors | hf/ (teacher)
    tokenizer/

Students and the teacher load the same way: ``model, tokenizer = load_model(dir)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from fedrobust.data.json_files import read_json
from fedrobust.errors import DataError, FedrobustError
import fedrobust.models.students  # noqa: F401  (registers the students)
from fedrobust.models.base import TextClassifier
from fedrobust.models.int8 import dequantize_state_dict, quantize_state_dict
from fedrobust.models.lowrank import LowRankLinear, replace_with_low_rank
from fedrobust.models.packed import pack, unpack
from fedrobust.models.registry import build_student
from fedrobust.models.teacher import HFTeacher
from fedrobust.models.tokenizer import WordPieceTokenizer

MODEL_JSON = "model.json"
FP32_WEIGHTS = "model.safetensors"
INT8_WEIGHTS = "model.int8.safetensors"
PACKED_WEIGHTS = "model.packed.safetensors"
TEACHER_WEIGHTS_DIR = "hf"
TOKENIZER_DIR = "tokenizer"
WEIGHT_FILES = {"fp32": FP32_WEIGHTS, "int8": INT8_WEIGHTS, "packed": PACKED_WEIGHTS}
REWRITE = "save the model again (fedrobust distill, or fedrobust teacher for a teacher)"


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
    bits: int | None = None,
) -> Path:
    """Write ``model`` + ``tokenizer``; ``weights="int8"`` stores per-row int8 weights with scales;
    ``weights="packed"`` stores every weight matrix (parameters of 2+ dims), which must already lie
    on a ``bits``-bit grid, as packed codes (fedrobust.models.packed): the compressed model's true size."""
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
        elif weights == "packed":
            if bits is None:
                raise ValueError("weights='packed' needs bits")
            grid = {n: bits for n, p in model.named_parameters() if p.dim() >= 2 and p.is_floating_point()}
            tensors, metadata = pack(state, grid)
            save_file(tensors, str(out_dir / PACKED_WEIGHTS), metadata=metadata)
        else:
            raise ValueError(f"weights must be 'fp32', 'int8' or 'packed', got {weights!r}")
    tokenizer.save(out_dir / TOKENIZER_DIR)
    (out_dir / MODEL_JSON).write_text(json.dumps(meta, indent=2))
    return out_dir


def weights_path(model_dir: str | Path) -> Path:
    model_dir = Path(model_dir)
    for candidate in (FP32_WEIGHTS, INT8_WEIGHTS, PACKED_WEIGHTS, TEACHER_WEIGHTS_DIR + "/model.safetensors"):
        if (model_dir / candidate).exists():
            return model_dir / candidate
    raise DataError(f"no weights in {model_dir}; expected {FP32_WEIGHTS}, {INT8_WEIGHTS} or {PACKED_WEIGHTS}")


def read_model_json(model_dir: Path) -> dict[str, Any]:
    """model.json, checked: an object naming the architecture (``name``), with its ``config`` and ``weights`` kind."""
    path = model_dir / MODEL_JSON
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "not found"
        raise DataError(f"{path}: {what}; not a fedrobust model folder (write one with `fedrobust distill` or `fedrobust teacher`)")
    meta = read_json(path, "model.json")
    if not isinstance(meta, dict):
        raise DataError(f"{path}: holds a JSON {type(meta).__name__}, not an object with name and config; {REWRITE}")
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise DataError(f"{path}: field name (the architecture: a student's registry name or hf_teacher) is "
                        f"{'missing' if 'name' not in meta else repr(meta['name'])}; {REWRITE}")
    if not isinstance(meta.get("config"), dict):
        raise DataError(f"{path}: field config (the constructor settings) is "
                        f"{'missing' if 'config' not in meta else 'not an object'}; {REWRITE}")
    if meta["name"] != "hf_teacher" and meta.get("weights") not in WEIGHT_FILES:
        raise DataError(f"{path}: field weights is {meta.get('weights')!r}; one of {', '.join(WEIGHT_FILES)}; {REWRITE}")
    return meta


def _load_weights(path: Path, packed: bool = False) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DataError(f"{path}: missing; the model folder's model.json names these weights; {REWRITE}")
    try:
        if not packed:
            return load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
            metadata = handle.metadata()
    except (SafetensorError, OSError) as exc:
        raise DataError(f"{path}: not readable safetensors ({_first_line(exc)}): the file is truncated or "
                        f"damaged; {REWRITE}") from None
    try:
        return unpack(tensors, metadata)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise DataError(f"{path}: not a packed layout this version reads ({_first_line(exc)}); {REWRITE}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def _fit_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``state``; weights that do not fit the architecture model.json describes are a DataError."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        detail = (f"{wrong[0]} is {list(state[wrong[0]].shape)} in the file but {list(expected[wrong[0]].shape)} "
                  f"in the architecture" if wrong else
                  f"{missing[0]} is missing from the file" if missing else f"{unexpected[0]} is not in the architecture")
        raise DataError(f"{path}: weights do not match the architecture of {MODEL_JSON} ({detail}); "
                        f"model.json and the weights come from different models; {REWRITE}")
    model.load_state_dict(state)


def load_tokenizer(model_dir: str | Path) -> WordPieceTokenizer:
    """The tokenizer of a model folder, without its weights."""
    model_dir = Path(model_dir)
    if not (model_dir / TOKENIZER_DIR).is_dir():
        raise DataError(f"{model_dir / TOKENIZER_DIR}: missing; a model folder holds its tokenizer; {REWRITE}")
    return WordPieceTokenizer.load(model_dir / TOKENIZER_DIR)


def load_model(model_dir: str | Path) -> tuple[TextClassifier, WordPieceTokenizer]:
    """Rebuild a model saved by ``save_model`` (eval mode) and its tokenizer; a damaged or
    incomplete folder is a DataError naming the file."""
    model_dir = Path(model_dir)
    meta = read_model_json(model_dir)
    tokenizer = load_tokenizer(model_dir)
    if meta["name"] == "hf_teacher":
        model = _load_teacher(model_dir, meta)
    else:
        try:
            model = _build(meta["name"], meta["config"])
            replace_with_low_rank(model, meta.get("low_rank", {}), from_weights=False)
        except (FedrobustError, TypeError, KeyError, ValueError) as exc:
            raise DataError(f"{model_dir / MODEL_JSON}: fields name {meta['name']!r} and config do not build a model "
                            f"({_first_line(exc)}); {REWRITE}") from None
        path = model_dir / WEIGHT_FILES[meta["weights"]]
        state = _load_weights(path, packed=meta["weights"] == "packed")
        if meta["weights"] == "int8":
            state = dequantize_state_dict(state)
        _fit_weights(model, state, path)
    model.eval()
    return model, tokenizer


def _load_teacher(model_dir: Path, meta: dict[str, Any]) -> TextClassifier:
    folder = model_dir / TEACHER_WEIGHTS_DIR
    if not (folder / "config.json").is_file():
        raise DataError(f"{folder}: missing or without config.json; the teacher's weights live there; {REWRITE}")
    try:
        model: TextClassifier = HFTeacher.from_pretrained(str(folder))
    except SafetensorError as exc:
        raise DataError(f"{folder / FP32_WEIGHTS}: not readable safetensors ({_first_line(exc)}): the weights are truncated or "
                        f"damaged; {REWRITE}") from None
    model.config = dict(meta["config"])
    return model
