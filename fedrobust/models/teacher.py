"""Any Hugging Face sequence classifier, in the TextClassifier contract.

``embed`` returns the word embeddings only; ``classify_embeddings`` feeds them as
``inputs_embeds`` so the model adds positions itself. Features are the mask-averaged last
hidden state (the pooling all-MiniLM-L6-v2 was trained with).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from fedrobust.models.base import ClassifierOutput, TextClassifier
from fedrobust.models.offline import DEFAULT_TEACHER, resolve_pretrained, unavailable


class HFTeacher(TextClassifier):
    registry_name = "hf_teacher"

    def __init__(self, hf_model: Any, source: str = DEFAULT_TEACHER) -> None:
        super().__init__()
        self.hf = hf_model
        self.num_labels = int(hf_model.config.num_labels)
        self.feature_dim = int(hf_model.config.hidden_size)
        self.config = {"source": source, "num_labels": self.num_labels}

    @classmethod
    def from_pretrained(
        cls, name_or_path: str = DEFAULT_TEACHER, num_labels: int | None = None, label_names: list[str] | None = None
    ) -> "HFTeacher":
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging as hf_logging

        source = resolve_pretrained(name_or_path)
        kwargs: dict[str, Any] = {}
        if num_labels is not None:
            kwargs["num_labels"] = num_labels
            if label_names:
                kwargs["id2label"] = dict(enumerate(label_names))
                kwargs["label2id"] = {name: i for i, name in enumerate(label_names)}
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
        try:
            hf = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise unavailable(name_or_path, exc) from exc
        finally:
            hf_logging.set_verbosity(verbosity)
        return cls(hf, source=name_or_path)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.hf.get_input_embeddings()(input_ids)

    def classify_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> ClassifierOutput:
        out = self.hf(inputs_embeds=embeddings, attention_mask=attention_mask, output_hidden_states=True)
        last = out.hidden_states[-1]
        weights = attention_mask.to(last.dtype).unsqueeze(-1)
        features = (last * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return ClassifierOutput(out.logits, features, last)

    def input_embedding_weight(self) -> torch.Tensor | None:
        return self.hf.get_input_embeddings().weight

    def save_pretrained(self, directory: str | Path) -> None:
        self.hf.save_pretrained(directory, safe_serialization=True)
