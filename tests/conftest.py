import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

# Tiny models gain nothing from intra-op threads, and on a loaded 2-core machine OpenMP's
# spinning threads make them 100x slower.
torch.set_num_threads(1)


@pytest.fixture
def flower_run_identity(monkeypatch):
    """Messages are stamped with the process's run; outside a Flower run, pose as one."""
    for attribute, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 0)):
        monkeypatch.setattr(TaskIdentity, attribute, value)


@pytest.fixture(scope="module")
def factorized_federation(tmp_path_factory):
    """(data folder with 5 device clients, a factorized bigru_attention student the stacked engines take,
    a hashed-embedding student they do not)."""
    from fedrobust.models import build_student
    from fedrobust.models.io import save_model
    from tests.federated_helpers import make_federation
    from tests.federated_helpers import tokenizer as federation_tokenizer

    root = tmp_path_factory.mktemp("stacked")
    data_dir, hashed_dir = make_federation(root, num_owners=6)  # 5 device clients
    torch.manual_seed(0)
    model = build_student("bigru_attention", num_labels=3, vocab_size=federation_tokenizer().vocab_size,
                          embedding={"kind": "factorized", "dim": 8, "rank": 4}, hidden=16)
    save_model(model, federation_tokenizer(), root / "factorized")
    return data_dir, root / "factorized", hashed_dir
