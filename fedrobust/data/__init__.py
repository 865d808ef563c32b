"""Federated text data: sources, partitioners, LEAF-style directories."""

import datasets as _datasets

from fedrobust.data.federated import ClientData, FederatedDataset

_datasets.disable_progress_bars()  # our own stages report progress; datasets' bars are noise here

__all__ = ["ClientData", "FederatedDataset"]
