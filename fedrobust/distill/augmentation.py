"""Teacher-labelled data augmentation for distillation (Tang et al. 2019, "Distilling
task-specific knowledge from BERT into simple neural networks").

With a few thousand labelled texts a small student overfits long before it has absorbed the
teacher; every extra text the teacher labels is more of the teacher's function to fit. Each
copy of a text masks words (p_mask), swaps words for random corpus words (p_swap) and, with
probability p_ngram, keeps only a random n-gram of 1..5 words. The teacher's outputs on the
copies are cached like those on the originals, and the student fits them by KD (and by CE
on the teacher's argmax, since the gold label of a mangled text is unknown).
"""

from __future__ import annotations

import random


def augment_texts(
    texts: list[str],
    copies: int,
    seed: int = 0,
    mask_token: str = "[MASK]",
    p_mask: float = 0.1,
    p_swap: float = 0.1,
    p_ngram: float = 0.25,
) -> tuple[list[str], list[int]]:
    """``copies`` new texts per text; returns (texts, index of each one's source text)."""
    rng = random.Random(seed)
    vocabulary = sorted({word for text in texts for word in text.split()})
    out_texts: list[str] = []
    sources: list[int] = []
    for index, text in enumerate(texts):
        words = text.split()
        if not words:
            continue
        for _ in range(copies):
            new = []
            for word in words:
                draw = rng.random()
                if draw < p_mask:
                    new.append(mask_token)
                elif draw < p_mask + p_swap:
                    new.append(rng.choice(vocabulary))
                else:
                    new.append(word)
            if rng.random() < p_ngram and len(new) > 1:
                n = rng.randint(1, min(5, len(new)))
                start = rng.randint(0, len(new) - n)
                new = new[start : start + n]
            out_texts.append(" ".join(new))
            sources.append(index)
    return out_texts, sources
