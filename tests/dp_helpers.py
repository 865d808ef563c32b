"""Texts of different lengths (the longest not first, so packing permutes the batch) and each text's own
gradient from torch's model, the reference that per-sample gradient engines are checked against."""

import torch
import torch.nn.functional as F

from tests.federated_helpers import tokenizer

TEXTS = ["bad", "a truly wonderful and moving film with a great cast", "dull plot",
         "the story was gripping from start to end", "awful", "brilliant script and a charming director"]
LABELS = [0, 1, 0, 1, 0, 1]


def single_text_gradients(model) -> list[dict[str, torch.Tensor]]:
    """{parameter name: gradient of the text's cross-entropy} for each of TEXTS, one text at a time."""
    encoded = tokenizer()(TEXTS)
    out = []
    for i in range(len(TEXTS)):
        model.zero_grad()
        logits = model(encoded["input_ids"][i:i + 1], encoded["attention_mask"][i:i + 1])
        F.cross_entropy(logits, torch.tensor([LABELS[i]])).backward()
        out.append({name: p.grad.clone() for name, p in model.named_parameters()})
    return out
