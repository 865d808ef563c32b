"""WordPiece tokenization shared by the teacher and every student.

Students read the teacher's token ids, so a token attribution of the student lines up one to one
with the teacher's, and one tokenizer file serves both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from fedrobust.errors import DataError
from fedrobust.models.offline import DEFAULT_TEACHER, resolve_pretrained, unavailable

_SETTINGS_FILE = "fedrobust_tokenizer.json"


class WordPieceTokenizer:
    """Callable: ``tokenizer(texts) -> {"input_ids", "attention_mask"}`` padded to the batch max."""

    def __init__(self, hf_tokenizer: Any, max_length: int = 64) -> None:
        self.hf = hf_tokenizer
        self.max_length = int(max_length)

    @classmethod
    def from_pretrained(cls, name_or_path: str = DEFAULT_TEACHER, max_length: int = 64) -> "WordPieceTokenizer":
        """The tokenizer of a local folder, the offline default, or a Hugging Face hub id ("org/name");
        a name written as a path that does not exist fails at once instead of going to the hub."""
        from transformers import AutoTokenizer

        source = resolve_pretrained(str(Path(name_or_path).expanduser()) if name_or_path.startswith("~") else name_or_path)
        if looks_like_path(source) and not Path(source).is_dir():
            raise DataError(f"{source}: no such tokenizer folder (a path, so not looked up on the Hugging Face hub)")
        try:
            hf = AutoTokenizer.from_pretrained(source, use_fast=True)
        except (OSError, ValueError) as exc:
            raise unavailable(name_or_path, exc) from exc
        return cls(hf, max_length)

    def __call__(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.hf(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        return {"input_ids": enc["input_ids"].long(), "attention_mask": enc["attention_mask"].long()}

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    @property
    def pad_token_id(self) -> int:
        return int(self.hf.pad_token_id)

    @property
    def unk_token_id(self) -> int:
        return int(self.hf.unk_token_id)

    @property
    def mask_token_id(self) -> int:
        return int(self.hf.mask_token_id if self.hf.mask_token_id is not None else self.hf.unk_token_id)

    def special_token_ids(self) -> list[int]:
        return sorted(set(int(i) for i in self.hf.all_special_ids))

    def convert_ids_to_tokens(self, ids: list[int] | torch.Tensor) -> list[str]:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return self.hf.convert_ids_to_tokens(ids)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.hf.save_pretrained(directory)
        (directory / _SETTINGS_FILE).write_text(json.dumps({"max_length": self.max_length}))

    @classmethod
    def load(cls, directory: str | Path) -> "WordPieceTokenizer":
        """A tokenizer folder written by ``save`` (never a hub id: a missing folder fails at once)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise DataError(f"{directory}: no such tokenizer folder; a model folder keeps its tokenizer there")
        settings_path = directory / _SETTINGS_FILE
        max_length = _max_length(settings_path) if settings_path.exists() else 64
        return cls.from_pretrained(str(directory), max_length=max_length)


def looks_like_path(name: str) -> bool:
    """True for a name that can only mean a local folder: absolute, relative with ./ ../ or ~, a
    Windows path, or with more than one "/" (a hub id is "name" or "org/name")."""
    return (name.startswith(("/", "./", "../", "~", ".\\")) or name in (".", "..") or "\\" in name
            or name.count("/") > 1 or name.endswith("/") or Path(name).exists())


def _max_length(path: Path) -> int:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["max_length"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: cannot read max_length ({type(exc).__name__}); save the model again") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"{path}: field max_length is {value!r}; it must be an integer >= 1")
    return value
