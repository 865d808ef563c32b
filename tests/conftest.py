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
