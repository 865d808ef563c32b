"""Several simulated devices per Flower node ("cohorts"), and the messages that carry them.

Flower's simulation engine costs 13-20 ms of driver time per message (../shared/FACTS.md), more
than a small device's whole personalization. With ``simulation.devices_per_node = C`` node k
simulates devices k*C .. k*C+C-1 one after the other, so a round with 10,000 devices is a few
hundred messages. Each message names the devices it is for, and the reply carries one record per
device; the server expands replies into per-device records before aggregating them in device
order, so per-device results are the same for every C.
"""

from __future__ import annotations

import math

from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

DEVICES_KEY = "devices"  # in a message's ConfigRecord: the device ids the node should run
FAILED = "failed"  # a reply's ConfigRecord: device id -> why it failed
ALGORITHM_MODULE_KEY = "algorithm-module"  # in a message's ConfigRecord: the module that registers the algorithm


def num_nodes(num_devices: int, devices_per_node: int) -> int:
    return math.ceil(num_devices / devices_per_node)


def devices_of_node(node_index: int, devices_per_node: int, num_devices: int) -> list[int]:
    start = node_index * devices_per_node
    return list(range(start, min(start + devices_per_node, num_devices)))


def _key(device: int, kind: str) -> str:
    return f"device-{device}.{kind}"


def pack_reply(arrays: dict[int, ArrayRecord], metrics: dict[int, MetricRecord], failed: dict[int, str],
               extra: dict[int, dict[str, ArrayRecord]] | None = None) -> RecordDict:
    """``extra``: per device, more records by kind (SCAFFOLD's control-variate change)."""
    record = RecordDict()
    for device, records in (extra or {}).items():
        for kind, array_record in records.items():
            record[_key(device, kind)] = array_record
    for device, array_record in arrays.items():
        record[_key(device, "arrays")] = array_record
    for device, metric_record in metrics.items():
        record[_key(device, "metrics")] = metric_record
    record[FAILED] = ConfigRecord({str(d): reason for d, reason in failed.items()})
    return record


def unpack_reply(content: RecordDict) -> tuple[dict[int, RecordDict], dict[int, str]]:
    """Per device: a RecordDict shaped like a one-device FedAvg reply ({"arrays"?, "metrics"}),
    and the devices that failed with their reasons."""
    devices: dict[int, RecordDict] = {}
    for key in content.keys():
        if not key.startswith("device-"):
            continue
        name, kind = key[len("device-"):].split(".", 1)
        devices.setdefault(int(name), RecordDict())[kind] = content[key]
    failed = {int(d): str(reason) for d, reason in content[FAILED].items()} if FAILED in content else {}
    return devices, failed
