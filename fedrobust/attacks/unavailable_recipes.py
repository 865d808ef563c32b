"""TextAttack recipes that need a download: registered so that asking for one says what is missing."""

from __future__ import annotations

from typing import Any, NoReturn

from fedrobust.attacks.catalog import ATTACKS
from fedrobust.errors import ResourceUnavailableError

COUNTER_FITTED = "counter-fitted GloVe embeddings (textattack S3 'word_embeddings/paragramcf')"
USE = "the Universal Sentence Encoder (TensorFlow Hub, needs tensorflow_hub)"
POS_TAGGER = "the NLTK averaged_perceptron_tagger / universal_tagset corpora"

MISSING_RESOURCES: dict[str, list[str]] = {
    "textattack:textfooler": [COUNTER_FITTED, USE, POS_TAGGER],
    "textattack:textbugger": ["GloVe 200d embeddings (textattack S3 'word_embeddings/glove200')", USE],
    "textattack:hotflip": [
        COUNTER_FITTED,
        POS_TAGGER,
        "a TextAttack word-level LSTM/CNN model (its gradient swap refuses others; see textattack:hotflip_offline)",
    ],
    "textattack:bae": ["the bert-base-uncased masked LM (Hugging Face hub)", USE],
    "textattack:bert_attack": ["the bert-base-uncased masked LM (Hugging Face hub)", USE],
    "textattack:clare": ["the distilroberta-base masked LM (Hugging Face hub)", USE],
    "textattack:a2t": [COUNTER_FITTED, "a sentence-transformers similarity model (Hugging Face hub)", POS_TAGGER],
    "textattack:alzantot": [COUNTER_FITTED, "the Google 1-billion-word language model (textattack S3)"],
    "textattack:faster_alzantot": [COUNTER_FITTED, "the Google 1-billion-word language model (textattack S3)"],
    "textattack:iga": [COUNTER_FITTED],
    "textattack:kuleshov": [COUNTER_FITTED, "GPT-2 (Hugging Face hub)", "skip-thought vectors (textattack S3)"],
    "textattack:pso": ["the HowNet sememe dictionary (OpenHowNet download)"],
    "textattack:checklist": ["the flair NER tagger (flair model hub)"],
}


def _unavailable(name: str, missing: list[str]):
    def builder(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise ResourceUnavailableError(
            f"attack {name!r} needs resources that fedrobust does not download: {'; '.join(missing)}. "
            "Offline alternatives: textattack:deepwordbug, textattack:pruthi, textattack:pwws, "
            "textattack:embedding_swap, textattack:hotflip_offline, fast_deepwordbug, fast_pwws, fast_hotflip"
        )

    return builder


for _name, _missing in MISSING_RESOURCES.items():
    ATTACKS.register(_name)(_unavailable(_name, _missing))
