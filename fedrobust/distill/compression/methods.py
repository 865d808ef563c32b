"""Importing this registers the compression methods in COMPRESSION_METHODS."""

from fedrobust.distill.compression import atmc, post_hoc  # noqa: F401  (registration)
from fedrobust.distill.compression.registry import COMPRESSION_METHODS, Compressed, CompressionMethod, Phases

__all__ = ["COMPRESSION_METHODS", "Compressed", "CompressionMethod", "Phases"]
