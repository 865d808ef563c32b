import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

# Tiny models gain nothing from intra-op threads, and on a loaded 2-core machine OpenMP's
# spinning threads make them 100x slower.
torch.set_num_threads(1)
