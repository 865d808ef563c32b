import json
from pathlib import Path

import pytest

from fedrobust.cli.main import main
from fedrobust.data import FederatedDataset
from fedrobust.data.prepare import DataConfig, prepare
from fedrobust.errors import ConfigError, DataError
from tests.data_helpers import synthetic_rows, write_csv

COLUMNS = dict(text_column="review", label_column="stars", owner_column="who")


@pytest.fixture(scope="module")
def csv_source(tmp_path_factory) -> str:
    return "csv:" + str(write_csv(tmp_path_factory.mktemp("src") / "reviews.csv", synthetic_rows()))


def _prepare(csv_source: str, out: Path, **kwargs) -> FederatedDataset:
    prepare(DataConfig(source=csv_source, **COLUMNS, **kwargs), out)
    return FederatedDataset.load(out)


@pytest.mark.parametrize("partition", ["natural", "iid", "dirichlet", "powerlaw", "pathological"])
def test_prepare_keeps_every_sample_once_and_every_client_can_train_and_test(csv_source, tmp_path, partition):
    extra = {} if partition == "natural" else {"num_clients": 12, "alpha": 1.5 if partition == "powerlaw" else 0.5}
    fd = _prepare(csv_source, tmp_path / "out", partition=partition, min_samples=4, **extra)
    clients = [fd.client(i) for i in range(len(fd))]
    public = fd.public()
    texts = ([t for c in clients for t in c.train_texts + c.validation_texts + c.test_texts]
             + public.train_texts + public.test_texts)
    assert sorted(texts) == sorted(r["review"] for r in synthetic_rows())
    assert all(c.n_train >= 1 and c.n_test >= 1 for c in clients)
    if partition != "natural":
        assert len(fd) <= 12
    assert fd.label_names == ["c0", "c1", "c2"]


def test_prepare_is_reproducible(csv_source, tmp_path):
    a = _prepare(csv_source, tmp_path / "a", partition="dirichlet", num_clients=8, min_samples=2, seed=5)
    b = _prepare(csv_source, tmp_path / "b", partition="dirichlet", num_clients=8, min_samples=2, seed=5)
    for name in ("train", "test", "public/train", "public/test"):
        assert (tmp_path / "a" / name / "data.json").read_bytes() == (tmp_path / "b" / name / "data.json").read_bytes()
    assert a.client_ids == b.client_ids


def test_leaf_round_trip_is_byte_identical(csv_source, tmp_path):
    _prepare(csv_source, tmp_path / "first", partition="natural", min_samples=5)
    prepare(DataConfig(source=f"leaf:{tmp_path / 'first'}", min_samples=5), tmp_path / "second")
    for name in ("train", "test", "public/train", "public/test"):
        assert (tmp_path / "first" / name / "data.json").read_bytes() == (tmp_path / "second" / name / "data.json").read_bytes()


def test_sent140_style_leaf_directory_loads(tmp_path):
    def user_rows(user, texts):
        return [[str(i), "Mon Apr 06 22:19:45 PDT 2009", "NO_QUERY", user, t] for i, t in enumerate(texts)]

    for split, data in {"train": {"ann": ["so happy", "bad day", "lovely"], "ben": ["awful", "great", "meh"]},
                        "test": {"ann": ["fun"], "ben": ["sad"]}}.items():
        blob = {"users": list(data), "num_samples": [len(v) for v in data.values()],
                "user_data": {u: {"x": user_rows(u, v), "y": [1] * (len(v) - 1) + [0]} for u, v in data.items()}}
        (tmp_path / "s140" / split).mkdir(parents=True)
        (tmp_path / "s140" / split / f"all_data_{split}.json").write_text(json.dumps(blob))
    fd = _prepare_leaf(tmp_path / "s140", tmp_path / "out")
    assert fd.client_ids == ["ann", "ben"]
    assert fd.client("ann").train_texts == ["so happy", "bad day", "lovely"]
    assert fd.client("ben").test_texts == ["sad"]


def _prepare_leaf(source: Path, out: Path) -> FederatedDataset:
    prepare(DataConfig(source=f"leaf:{source}", public_fraction=0.0, min_samples=2), out)
    return FederatedDataset.load(out)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(partition="dirichlet", num_clients=5, alpha=0.0), "config key alpha must be > 0"),
        (dict(partition="iid", num_clients=10_000), "use fewer clients"),
        (dict(partition="iid", num_clients=0), "config key num_clients must be >= 1"),
        (dict(partition="natural", num_clients=5), "num_clients does not apply to partition natural"),
        (dict(partition="quantum"), "unknown partitioner 'quantum'"),
        (dict(min_samples=1), "config key min_samples must be >= 2"),
        (dict(train_fraction=1.0), "config key train_fraction"),
        (dict(public_fraction=1.0), "config key public_fraction"),
    ],
)
def test_impossible_options_fail_before_writing(csv_source, tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        prepare(DataConfig(source=csv_source, **COLUMNS, **options), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []  # no staging directory left behind


def test_existing_output_is_not_clobbered(csv_source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="pass --overwrite"):
        prepare(DataConfig(source=csv_source, **COLUMNS), out)
    assert (out / "precious.txt").read_text() == "keep me"
    prepare(DataConfig(source=csv_source, **COLUMNS), out, overwrite=True)
    assert not (out / "precious.txt").exists() and (out / "meta.json").is_file()


def test_failing_source_leaves_previous_output_intact(tmp_path):
    out = tmp_path / "out"
    bad = tmp_path / "bad.csv"
    bad.write_text("review,stars\nonly one class,c0\nagain,c0\n")
    with pytest.raises(DataError, match="at least 2 labels"):
        prepare(DataConfig(source=f"csv:{bad}", partition="iid", num_clients=1,
                           text_column="review", label_column="stars"), out)
    assert not out.exists()


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(["data", "prepare", "--source", "nope", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "unknown data source 'nope'" in err and "rotten_tomatoes" in err


def test_validation_names_the_section_key_when_given_one():
    with pytest.raises(ConfigError, match="config key data.min_samples must be >= 2"):
        DataConfig(min_samples=1).validate("data")


def test_duplicates_are_dropped_unless_kept(tmp_path):
    rows = synthetic_rows(n=60, num_owners=3)
    source = "csv:" + str(write_csv(tmp_path / "dup.csv", rows + rows[:10]))
    for keep, dropped in ((False, 10), (True, 0)):
        out = tmp_path / f"keep_{keep}"
        prepare(DataConfig(source=source, keep_duplicates=keep, min_samples=2, **COLUMNS), out)
        assert json.loads((out / "meta.json").read_text())["provenance"]["duplicates_dropped"] == dropped


def test_cli_prepare_and_stats(csv_source, tmp_path, capsys):
    out = tmp_path / "fed"
    argv = ["data", "prepare", "--source", csv_source, "--text-column", "review", "--label-column", "stars",
            "--owner-column", "who", "--min-samples", "5", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "device clients" in printed and "samples per client  mean" in printed
    assert main(["data", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.split("\nplot: ")[0])
    assert stats["devices"]["users"] == len(FederatedDataset.load(out))
    assert (out / "label_distribution.png").stat().st_size > 10_000


def test_min_test_keeps_only_devices_with_enough_test_texts(csv_source, tmp_path):
    every = _prepare(csv_source, tmp_path / "all", min_samples=4)
    kept = _prepare(csv_source, tmp_path / "kept", min_samples=4, min_test=4)
    tests = {every.client(i).client_id: every.client(i).n_test for i in range(len(every))}
    assert min(tests.values()) < 4  # the option has something to drop
    assert set(kept.client_ids) == {c for c, n in tests.items() if n >= 4}
    assert all(kept.client(i).test_texts == every.client(every.client_ids.index(kept.client_ids[i])).test_texts
               for i in range(len(kept)))  # the devices kept are split exactly as before
    with pytest.raises(ConfigError, match="data.min_test must be >= 1"):
        DataConfig(min_test=0).validate("data")
