"""The device phase on validation texts (`federated.evaluate.split: validation`, for tuning runs)
reads no test text; on test (the default, the final run) it does."""

from __future__ import annotations

import pytest

from fedrobust.data.reads_of_test_texts import record_test_reads
from fedrobust.errors import ConfigError
from fedrobust.evaluation import accuracy
from fedrobust.evaluation.baselines import majority_accuracy
from fedrobust.federated.algorithms import ClientCall, build_algorithm
from fedrobust.federated.client_state import ClientStateStore
from fedrobust.federated.device_eval import personalize_and_measure
from fedrobust.federated.worker_cache import initial_model, tokenizer_for
from tests.federated_helpers import client_data, make_federation, sim_config


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    return make_federation(tmp_path_factory.mktemp("device_split"), num_owners=3)


def _measure(federation, tmp_path, split: str):
    data_dir, model_dir = federation
    data = client_data(data_dir, 0)
    config = sim_config(data_dir, model_dir, algorithm="local_only", rounds=0, personalize={"epochs": 1},
                        evaluate={"examples": 2, "split": split})
    call = ClientCall(config=config, partition_id=0, data=data, tokenizer=tokenizer_for(str(model_dir)),
                      model=initial_model(str(model_dir), config.init, 0), server_round=1,
                      state=ClientStateStore(str(tmp_path / split), "000000"))
    with record_test_reads() as reads:
        metrics = personalize_and_measure(build_algorithm("local_only"), call)
    return data, call, metrics, reads


def test_validation_split_reads_no_test_text_and_scores_validation(federation, tmp_path):
    data, call, metrics, reads = _measure(federation, tmp_path, "validation")
    assert reads == set()
    assert data.n_validation >= 2 and metrics["num-examples"] == data.n_validation
    assert metrics["majority_acc"] == majority_accuracy(data.train_labels, data.validation_labels)
    assert metrics["global/natural_acc"] == pytest.approx(
        accuracy(call.model, call.tokenizer, data.validation_texts, data.validation_labels))


def test_test_split_is_recorded(federation, tmp_path):
    data, _, metrics, reads = _measure(federation, tmp_path, "test")
    assert reads == {data.client_id} and metrics["num-examples"] == data.n_test


def test_unknown_split_names_the_key(federation):
    with pytest.raises(ConfigError, match="evaluate.split must be one of test, validation, got 'train'"):
        sim_config(*federation, evaluate={"split": "train"})
