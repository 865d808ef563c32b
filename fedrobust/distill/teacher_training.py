"""Fine-tuning the Hugging Face teacher on the public split, and caching what distillation needs.

The cache holds, for every public training text, the token ids and the teacher's logits,
pooled features, token attributions (gradient x input, or integrated gradients) and logits with
its top-k attributed tokens masked, so distillation never runs the teacher again; plus one
contextual token table (distill/token_table.py) to initialise students' embeddings from.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import torch

from fedrobust.distill.attribution import teacher_attributions, top_k_positions
from fedrobust.distill.token_table import TokenStateSums, contextual_token_table
from fedrobust.evaluation.attributions import DEFAULT_ATTRIBUTION, IG_STEPS
from fedrobust.models.teacher import HFTeacher

log = logging.getLogger(__name__)

TOKEN_TABLE_KEY = "token_table"  # (vocab, dim): not one row per text like the other cache entries


def finetune_teacher(
    teacher: HFTeacher,
    tokenizer: Any,
    texts: list[str],
    labels: list[int],
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 5e-5,
    seed: int = 0,
) -> list[float]:
    """AdamW with linear warm-up (10%) and decay; returns the mean loss of each epoch."""
    torch.manual_seed(seed)
    order = list(range(len(texts)))
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(teacher.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * ((len(texts) + batch_size - 1) // batch_size)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    teacher.train()
    epoch_losses = []
    for epoch in range(epochs):
        rng.shuffle(order)
        losses, started = [], time.perf_counter()
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([texts[i] for i in idx])
            logits = teacher(enc["input_ids"], enc["attention_mask"])
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([labels[i] for i in idx]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(teacher.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        epoch_losses.append(sum(losses) / len(losses))
        log.info(
            "teacher epoch %d/%d loss %.4f (%.0f ex/s)",
            epoch + 1,
            epochs,
            epoch_losses[-1],
            len(order) / (time.perf_counter() - started),
        )
    teacher.eval()
    return epoch_losses


def teacher_outputs(
    teacher: HFTeacher, tokenizer: Any, texts: list[str], mask_top_k: int = 2, batch_size: int = 64,
    attribution: str = DEFAULT_ATTRIBUTION, attribution_steps: int = IG_STEPS,
) -> dict[str, torch.Tensor]:
    """The distillation cache for ``texts``: ids, mask, logits, features, attributions (by
    ``attribution``, for the predicted class), masked logits."""
    teacher.eval()
    special = torch.tensor(tokenizer.special_token_ids())
    encoded = tokenizer(texts)  # one padding length for the whole set
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("logits", "features", "attributions", "masked_logits")}
    weight = teacher.input_embedding_weight()
    token_sums = TokenStateSums(len(weight)) if weight is not None else None
    started = last_report = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        if time.perf_counter() - last_report > 60:  # minutes for thousands of texts, or for integrated gradients
            last_report = time.perf_counter()
            log.info("teacher outputs: %d/%d texts (%.1f texts/s)", start, len(texts), start / (last_report - started))
        b_ids, b_mask = ids[start : start + batch_size], mask[start : start + batch_size]
        scores, logits = teacher_attributions(teacher, tokenizer, b_ids, b_mask, attribution, attribution_steps)
        with torch.no_grad():
            output = teacher.classify_embeddings(teacher.embed(b_ids), b_mask)
            features = output.features
            if token_sums is not None and output.token_states is not None:
                token_sums.add(b_ids, b_mask, output.token_states)
            candidates = (b_mask == 1) & ~torch.isin(b_ids, special)
            masked_ids = b_ids.masked_fill(top_k_positions(scores, candidates, mask_top_k), tokenizer.mask_token_id)
            masked_logits = teacher(masked_ids, b_mask)
        out["logits"].append(logits)
        out["features"].append(features)
        out["attributions"].append(scores)
        out["masked_logits"].append(masked_logits)
    result = {k: torch.cat(v).contiguous() for k, v in out.items()}
    result["input_ids"], result["attention_mask"] = ids.contiguous(), mask.contiguous()
    if token_sums is not None and token_sums.counts.any():
        result[TOKEN_TABLE_KEY] = contextual_token_table(token_sums.sums, token_sums.counts, weight.detach())
    return result
