"""Word vectors available offline, with their nearest-neighbour table, for embedding word swaps.

The default source is the teacher's WordPiece input embeddings restricted to whole-word tokens
(alphabetic, no ``##`` continuation, no special tokens). The neighbour table (cosine similarity,
the word itself in column 0, as TextAttack's ``WordEmbedding.nn_matrix`` expects) is computed
once and cached under ``fedrobust_home()/embeddings``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from fedrobust.errors import ResourceUnavailableError
from fedrobust.resources import fedrobust_home, teacher_model_dir

_WHOLE_WORD = re.compile(r"[a-z]{2,}")


@dataclass(frozen=True)
class WordVectors:
    words: tuple[str, ...]
    vectors: np.ndarray  # (N, D) float32
    neighbours: np.ndarray  # (N, K + 1) int64, row i starts with i

    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def whole_word_vectors(tokens: Sequence[str], weight: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    keep = [i for i, tok in enumerate(tokens) if _WHOLE_WORD.fullmatch(tok)]
    return tuple(tokens[i] for i in keep), np.ascontiguousarray(weight[keep], dtype=np.float32)


def nearest_neighbours(vectors: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Top-(k+1) cosine neighbours of every row, itself first."""
    unit = torch.nn.functional.normalize(torch.from_numpy(vectors), dim=1)
    out = np.empty((len(unit), k + 1), dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, len(unit), chunk):
            sims = unit[start : start + chunk] @ unit.T
            rows = torch.arange(sims.shape[0])
            sims[rows, rows + start] = float("inf")  # the word itself goes first
            out[start : start + chunk] = sims.topk(k + 1, dim=1).indices.numpy()
    return out


def _cache_path(tag: str, words: tuple[str, ...], vectors: np.ndarray, k: int) -> Path:
    digest = hashlib.sha1()
    digest.update("\n".join(words).encode())
    digest.update(vectors.tobytes())
    folder = fedrobust_home() / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{tag}-nn{k}-{digest.hexdigest()[:16]}.npy"


def with_neighbours(tag: str, words: tuple[str, ...], vectors: np.ndarray, k: int) -> WordVectors:
    path = _cache_path(tag, words, vectors, k)
    if path.is_file():
        neighbours = np.load(path)
    else:
        neighbours = nearest_neighbours(vectors, k)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, neighbours)
        tmp.replace(path)
    return WordVectors(words=words, vectors=vectors, neighbours=neighbours)


def teacher_word_vectors(k: int = 50) -> WordVectors:
    """Whole-word rows of the offline teacher's WordPiece input embedding table."""
    from safetensors import safe_open

    model_dir = teacher_model_dir()
    weights, vocab = model_dir / "model.safetensors", model_dir / "vocab.txt"
    if not weights.is_file() or not vocab.is_file():
        raise ResourceUnavailableError(f"{model_dir} lacks model.safetensors or vocab.txt; reinstall the teacher package")
    with safe_open(str(weights), framework="pt") as handle:
        key = next((name for name in handle.keys() if name.endswith("word_embeddings.weight")), None)
        if key is None:
            raise ResourceUnavailableError(f"{weights} has no word_embeddings.weight tensor")
        table = handle.get_tensor(key).float().numpy()
    tokens = vocab.read_text(encoding="utf-8").splitlines()
    words, vectors = whole_word_vectors(tokens[: len(table)], table)
    return with_neighbours("teacher-wordpiece", words, vectors, k)


def model_word_vectors(weight: torch.Tensor, tokenizer: object, k: int = 50) -> WordVectors:
    """Whole-word rows of a model's own input embedding table (its tokenizer names the rows)."""
    tokens = list(tokenizer.convert_ids_to_tokens(list(range(weight.shape[0]))))  # type: ignore[attr-defined]
    words, vectors = whole_word_vectors(tokens, weight.detach().float().cpu().numpy())
    return with_neighbours("model", words, vectors, k)
