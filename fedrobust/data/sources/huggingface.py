"""`hf:<name>`: any Hugging Face hub dataset (or one already in the local HF cache)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Iterator
from urllib.parse import urlparse

import datasets

from fedrobust.data.sources.base import SourceOptions, from_table
from fedrobust.errors import DataError, ResourceUnavailableError

PROBE_TIMEOUT_S = 3.0


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One short TCP connect to the hub endpoint, instead of the client's minute of retries."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _offline_hub() -> Iterator[None]:
    """Make datasets read only its local cache (what it does with HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    saved = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved
        hub_logger.setLevel(level)


def load_hub_dataset(name: str, options: SourceOptions) -> datasets.Dataset:
    if not name:
        raise DataError("hf: needs a dataset name, e.g. hf:sentiment140")
    origin = f"hf:{name}" + (f" ({options.hf_config})" if options.hf_config else "") + f"[{options.hf_split}]"
    online = hub_reachable()
    try:
        with contextlib.nullcontext() if online else _offline_hub():
            table = datasets.load_dataset(name, options.hf_config, split=options.hf_split)
    except (ConnectionError, OSError, ValueError, datasets.exceptions.DatasetNotFoundError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = "the Hugging Face hub" if online else "the local HF cache (the hub is unreachable)"
        raise ResourceUnavailableError(
            f"cannot load {origin} from {where}: {first_line[:160]}; download it once while online, "
            f"or use an offline source (rotten_tomatoes, csv:FILE, leaf:DIR)"
        ) from None
    return from_table(table, options, origin)
