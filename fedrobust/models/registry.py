"""Students by name: ``build_student("bigru_attention", num_labels=2, vocab_size=30522, hidden=64)``."""

from __future__ import annotations

import inspect
from typing import Any

from fedrobust.errors import ConfigError
from fedrobust.models.base import TextClassifier
from fedrobust.registry import Registry

STUDENTS: Registry[type[TextClassifier]] = Registry("student")


def build_student(name: str, num_labels: int, vocab_size: int, **config: Any) -> TextClassifier:
    cls = STUDENTS.get(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "num_labels", "vocab_size"}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} for student {name!r}; accepted: {', '.join(sorted(accepted))}"
        )
    return cls(num_labels=num_labels, vocab_size=vocab_size, **config)
