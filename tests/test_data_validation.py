"""Device validation splits (carved from train when a prepared directory loads) and the record of
test-data reads that the no-test-in-selection tests rely on."""

import json

import pytest

from fedrobust.data import FederatedDataset
from fedrobust.data.leaf import read_leaf_split
from fedrobust.data.prepare import DataConfig, prepare
from fedrobust.data.reads_of_test_texts import assert_no_test_reads, record_test_reads
from fedrobust.data.validation import validation_rows, validation_size
from fedrobust.errors import ConfigError, DataError
from tests.data_helpers import synthetic_rows, write_csv

COLUMNS = dict(text_column="review", label_column="stars", owner_column="who")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    source = "csv:" + str(write_csv(root / "reviews.csv", synthetic_rows(n=400, num_owners=20)))
    prepare(DataConfig(source=source, partition="natural", min_samples=4, validation_fraction=0.2, **COLUMNS),
            root / "data")
    return root / "data"


def test_validation_is_carved_from_train_disjoint_and_complete(prepared):
    dataset = FederatedDataset.load(prepared)
    assert json.loads((prepared / "meta.json").read_text())["validation_fraction"] == 0.2
    on_disk = read_leaf_split(prepared / "train")
    with_validation = 0
    for client_id in dataset.client_ids:
        client = dataset.client(client_id)
        assert client.n_train >= 1
        assert not set(client.validation_texts) & set(client.train_texts)
        assert sorted(client.train_texts + client.validation_texts) == sorted(on_disk[client_id].texts)
        assert client.n_validation == validation_size(len(on_disk[client_id].texts), 0.2)
        with_validation += client.n_validation > 0
    assert with_validation >= len(dataset) // 2


def test_validation_rows_are_deterministic_and_depend_on_the_client_id_only(prepared):
    a, b = FederatedDataset.load(prepared), FederatedDataset.load(prepared)
    for client_id in a.client_ids:
        assert a.client(client_id).validation_texts == b.client(client_id).validation_texts
    # sha256 of the id, not Python's per-process salted hash(): these rows are the same in every process
    assert validation_rows("u007", 20, 0.2) == [0, 2, 11, 13]
    assert validation_rows("u008", 20, 0.2) != validation_rows("u007", 20, 0.2)


def test_sizes_keep_a_train_text_and_skip_tiny_devices():
    assert [validation_size(n, 0.1) for n in (1, 2, 4, 5, 14, 15, 100)] == [0, 0, 0, 1, 1, 2, 10]
    assert validation_size(2, 0.49) == 1 and validation_size(3, 0.0) == 0


def test_directories_prepared_without_the_key_load_with_no_validation(prepared, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(prepared, old)
    meta = json.loads((old / "meta.json").read_text())
    del meta["validation_fraction"]
    (old / "meta.json").write_text(json.dumps(meta))
    dataset, on_disk = FederatedDataset.load(old), read_leaf_split(old / "train")
    for client_id in dataset.client_ids:
        client = dataset.client(client_id)
        assert client.validation_texts == [] and client.train_texts == on_disk[client_id].texts


def test_validation_fraction_is_checked_by_key():
    with pytest.raises(ConfigError, match="config key data.validation_fraction must be in \\[0, 0.5\\)"):
        DataConfig(validation_fraction=0.5).validate("data")


def test_reads_of_test_data_are_recorded_by_owner(prepared):
    dataset = FederatedDataset.load(prepared)
    client, public = dataset.client(0), dataset.public()
    with record_test_reads() as outer:
        _ = client.train_texts, client.validation_labels, client.n_test, public.n_test  # no test data read
        assert outer == set()
        with record_test_reads() as inner:
            _ = client.test_texts
        _ = public.test_labels
    assert inner == {client.client_id} and outer == {client.client_id, "public"}
    _ = client.test_texts  # outside a recorder: nothing to note
    assert outer == {client.client_id, "public"}
    with pytest.raises(DataError, match="tuning read test data of 2 split owner"):
        assert_no_test_reads(outer, "tuning")
