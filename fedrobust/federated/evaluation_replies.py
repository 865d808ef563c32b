"""The final phase's replies kept on disk as they arrive, so that a killed run resumes the phase.

Personalizing and measuring every device is most of a federation's time when it runs DP-SGD or
attacks every test text (half an hour for 358 devices with DP-SGD on 2 cores). Each node's reply
is written as it arrives (Flower's RecordDict protobuf, written atomically); a rerun of the same
federation (same fingerprint, same final global weights) sends only the messages whose devices
have no kept reply, so an interrupted phase loses at most the nodes that were running. Replies
are per message's device list, which depends only on the config, and every device's numbers
depend only on its id and seeds, so the resumed phase gives the same rows as an uninterrupted one.
Replies that report a failed device are not kept: a rerun tries those devices again. The folder
is removed once the run's summary is written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from flwr.app import ArrayRecord, RecordDict

from fedrobust.federated.cohorts import unpack_reply

log = logging.getLogger(__name__)
FOLDER = "evaluation_replies"


def arrays_digest(arrays: ArrayRecord) -> str:
    """A short hash of the weights every device of the phase starts from."""
    digest = hashlib.sha256()
    for key in arrays.keys():
        digest.update(key.encode())
        digest.update(arrays[key].numpy().tobytes())
    return digest.hexdigest()[:16]


class EvaluationReplies:
    """The kept replies of one federation's final phase (``run_dir/evaluation_replies/<fingerprint>-<weights>/``)."""

    def __init__(self, run_dir: Path, fingerprint: str, arrays: ArrayRecord) -> None:
        self.root = Path(run_dir) / FOLDER
        self.dir = self.root / f"{fingerprint}-{arrays_digest(arrays)}"

    def _path(self, devices: list[int]) -> Path:
        name = hashlib.sha256(",".join(map(str, devices)).encode()).hexdigest()[:16]
        return self.dir / f"{devices[0]:06d}-{name}.pb"

    def load(self, devices: list[int]) -> RecordDict | None:
        """The kept reply for this device list; None if there is none or it cannot be read."""
        from flwr.common.serde import ProtoRecordDict, recorddict_from_proto

        path = self._path(devices)
        if not path.is_file():
            return None
        try:
            return recorddict_from_proto(ProtoRecordDict.FromString(path.read_bytes()))
        except Exception as exc:  # a damaged file costs its node's work again, nothing else
            log.warning("ignoring the unreadable kept reply %s (%s)", path, exc)
            return None

    def save(self, devices: list[int], content: RecordDict) -> bool:
        """Keep a reply whose every device succeeded; returns whether it was kept."""
        from flwr.common.serde import recorddict_to_proto

        if unpack_reply(content)[1]:
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(devices)
        partial = path.with_suffix(".partial")
        partial.write_bytes(recorddict_to_proto(content).SerializeToString())
        os.replace(partial, path)
        return True


class KeptReply:
    """A kept reply where the phase reads a Flower reply (its content; never an error)."""

    def __init__(self, content: RecordDict) -> None:
        self.content = content

    def has_error(self) -> bool:
        return False


def forget_evaluation_replies(run_dir: Path) -> None:
    """Remove the kept replies (the phase's results are in clients.csv and summary.json)."""
    shutil.rmtree(Path(run_dir) / FOLDER, ignore_errors=True)
