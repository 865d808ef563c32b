"""Offline setup: TextAttack imports from an empty project home without touching global caches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedrobust.attacks.words import SplitText
from fedrobust.resources import DEBIAN_WORDNET_DIR

REPO = Path(__file__).resolve().parents[1]

SETUP_SCRIPT = """
import json, os, sys
from fedrobust.attacks import build_attack
assert "textattack" not in sys.modules, "import fedrobust.attacks must not import textattack"
from fedrobust.attacks.textattack_env import import_textattack
from fedrobust.attacks.nltk_env import nltk_downloads_blocked
import nltk
calls = []
nltk.download = lambda *a, **k: calls.append(a) or False  # any download attempt is recorded
ta = import_textattack()
from nltk.corpus import stopwords
print(json.dumps({
    "hf_home": os.environ.get("HF_HOME"),
    "ta_cache_dir": os.environ.get("TA_CACHE_DIR"),
    "n_stopwords": len(stopwords.words("english")),
    "download_calls": len(calls),
    "cache_dir": ta.shared.utils.install.TEXTATTACK_CACHE_DIR,
}))
"""


def test_offline_setup_from_an_empty_home(tmp_path: Path) -> None:
    home, user_home = tmp_path / "fedrobust_home", tmp_path / "user"
    user_home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("TA_CACHE_DIR", "HF_HOME", "NLTK_DATA")}
    env.update(FEDROBUST_HOME=str(home), HOME=str(user_home), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", SETUP_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n_stopwords"] == 179
    assert report["download_calls"] == 0
    assert report["hf_home"] is None and report["ta_cache_dir"] is None  # process env left as it was
    assert Path(report["cache_dir"]) == home / "textattack"
    assert (home / "textattack" / "post_install_check_3").is_file()
    assert (home / "nltk_data" / "corpora" / "stopwords" / "english").is_file()
    if (DEBIAN_WORDNET_DIR / "data.noun").is_file():
        assert (home / "nltk_data" / "corpora" / "wordnet" / "lexnames").is_file()
    written = [p.relative_to(user_home).as_posix() for p in user_home.rglob("*")]
    # matplotlib (imported by textattack's dependencies) creates its empty config dir; nothing else
    assert set(written) <= {".config", ".config/matplotlib"}, written
    assert "Downloading" not in proc.stderr and "%|" not in proc.stderr  # no download logs, no bars


@pytest.mark.parametrize(
    "text",
    [
        "It's a well-made, 'quiet' film -- really!",
        "  spaces   and\ttabs\nand *stars* @home e-mail@x.com ",
        "numbers 2 3.5 and under_scores, (parens) \"quotes\"",
        "",
    ],
)
def test_word_split_matches_textattack(text: str) -> None:
    from fedrobust.attacks.textattack_env import import_textattack

    import_textattack()
    from textattack.shared import AttackedText

    split = SplitText.from_text(text)
    assert list(split.words) == AttackedText(text).words if text else split.words == ()
    assert split.text == text
    if split.words:
        replaced = split.replaced({0: "XYZ"})
        assert SplitText.from_text(replaced).words[0] == "XYZ"
