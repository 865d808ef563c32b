"""A TextAttack ``ModelWrapper`` over any fedrobust ``TextClassifier`` and its tokenizer.

Importing this module does not import TextAttack: ``textattack_wrapper(...)`` does (through the
offline setup) and returns a ``TextClassifierWrapper``, a ``ModelWrapper`` subclass made then.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from fedrobust.attacks.textattack_env import import_textattack
from fedrobust.models.base import TextClassifier


def textattack_wrapper(model: TextClassifier, tokenizer: Any, batch_size: int = 64) -> "ClassifierCalls":
    """A TextAttack ``ModelWrapper`` over ``model`` (imports TextAttack on first use)."""
    return _wrapper_class()(model, tokenizer, batch_size)


def __getattr__(name: str) -> Any:
    # ``TextClassifierWrapper`` by name (pickle, ``from ... import``) also makes the class on first use
    if name == "TextClassifierWrapper":
        return _wrapper_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.lru_cache(maxsize=1)
def _wrapper_class() -> type:
    import_textattack()
    from textattack.models.wrappers import ModelWrapper

    return type("TextClassifierWrapper", (ClassifierCalls, ModelWrapper), {"__module__": __name__})


class ClassifierCalls:
    """What TextAttack asks of a model wrapper. Calls return the model's logits (B, C) on CPU;
    TextAttack applies the softmax."""

    def __init__(self, model: TextClassifier, tokenizer: Any, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def __call__(self, text_input_list: Sequence[str], **kwargs: Any) -> torch.Tensor:
        self.model.eval()
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(text_input_list), self.batch_size):
                batch = self.tokenizer(list(text_input_list[start : start + self.batch_size]))
                outputs.append(self.model(batch["input_ids"], batch["attention_mask"]).float().cpu())
        return torch.cat(outputs) if outputs else torch.zeros(0, self.model.num_labels)

    def get_grad(self, text_input: str) -> dict[str, Any]:
        """Gradient of the loss at the predicted label w.r.t. each token's embedding (L, D)."""
        self.model.eval()
        batch = self.tokenizer([text_input])
        embeddings = self.model.embed(batch["input_ids"]).detach().requires_grad_(True)
        logits = self.model.classify_embeddings(embeddings, batch["attention_mask"]).logits
        loss = F.cross_entropy(logits, logits.argmax(dim=1))
        (gradient,) = torch.autograd.grad(loss, embeddings)
        return {"ids": batch["input_ids"][0].tolist(), "gradient": gradient[0].numpy()}

    def _tokenize(self, inputs: Sequence[str]) -> list[list[str]]:
        batch = self.tokenizer(list(inputs))
        tokens = []
        for ids, mask in zip(batch["input_ids"], batch["attention_mask"]):
            tokens.append(list(self.tokenizer.convert_ids_to_tokens(ids[mask.bool()].tolist())))
        return tokens

