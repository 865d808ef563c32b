"""Packed storage of a compressed student: its true size on disk (ATMC, Gui et al. 2019,
"Model Compression with Adversarial Robustness: A Unified Optimization Framework", NeurIPS).

A weight tensor that lies on a ``bits``-bit grid (``to_grid``: integer codes in [-L, L],
L = 2^(bits-1) - 1, times one fp32 scale per tensor; 2^bits - 1 distinct values) is stored as
its scale and its codes packed ``bits`` to a byte, or, when that is smaller, as a bitmask of its
non-zeros plus the packed codes of the non-zeros only. Integer buffers (a pruned vocabulary's
id map) are stored as their common value plus the exceptions when that is smaller than the
narrowest dense integer type; every other tensor (biases, norms, scalars) stays as it is.

The file is safetensors with the layout of each packed tensor in its header metadata, so it
reads without pickle; ``unpack`` gives back exactly the tensors ``pack`` was given.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch

FORMAT = "fedrobust-packed/1"
_CODES, _MASK, _SCALE, _INDEX, _VALUES = ".__codes", ".__mask", ".__scale", ".__index", ".__values"
MIN_BITS, MAX_BITS = 2, 8


def levels(bits: int) -> int:
    """L: the grid's codes are -L..L."""
    return 2 ** (bits - 1) - 1


def grid_scale(max_abs: float, bits: int) -> float:
    """The per-tensor scale for a largest magnitude ``max_abs``, chosen so that the scale read back
    from the grid's largest value (fp32 ``(L * s) / L``) is ``s`` again: this is what makes
    ``pack``'s reading of a projected tensor exact."""
    top = levels(bits)
    if max_abs <= 0 or not math.isfinite(max_abs):
        return 1.0
    scale = torch.tensor(max_abs, dtype=torch.float32) / top
    for _ in range(8):
        again = (scale * top) / top
        if bool(again == scale):
            return float(scale)
        scale = again
    return 2.0 ** math.ceil(math.log2(max_abs / top))  # a power of two always reads back exactly


@torch.no_grad()
def to_grid(weight: torch.Tensor, keep: torch.Tensor, bits: int) -> torch.Tensor:
    """``weight`` with the entries outside ``keep`` zeroed and the kept ones rounded to the nearest
    non-zero grid level (scale from the kept entries' largest magnitude). Kept entries never round
    to zero, so the share of zeros is exactly that of ``keep``."""
    weight = weight.float()
    kept = weight[keep]
    scale = grid_scale(float(kept.abs().max()) if kept.numel() else 0.0, bits)
    codes = torch.round(weight / scale).clamp(-levels(bits), levels(bits))
    codes = torch.where(codes == 0, torch.where(weight >= 0, 1.0, -1.0), codes)
    return torch.where(keep, codes, torch.zeros_like(codes)) * scale


def grid_codes(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, float] | None:
    """(integer codes, scale) when ``weight`` lies exactly on a ``bits``-bit grid, else None."""
    weight = weight.detach().float()
    max_abs = float(weight.abs().max()) if weight.numel() else 0.0
    scale = float(torch.tensor(max_abs, dtype=torch.float32) / levels(bits)) if max_abs > 0 else 1.0
    codes = torch.round(weight / scale)
    if codes.numel() and (codes.abs().max() > levels(bits) or not torch.equal(codes * scale, weight)):
        return None
    return codes.to(torch.int16), scale


def _pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Unsigned ints < 2^width, ``width`` bits each, little-endian, into bytes."""
    bits = (values.astype(np.uint16)[:, None] >> np.arange(width, dtype=np.uint16)) & 1
    return np.packbits(bits.astype(np.uint8).reshape(-1), bitorder="little")


def _unpack_bits(packed: np.ndarray, count: int, width: int) -> np.ndarray:
    bits = np.unpackbits(packed, count=count * width, bitorder="little").reshape(count, width)
    return (bits.astype(np.int64) << np.arange(width, dtype=np.int64)).sum(axis=1)


def _width(values: int) -> int:
    return max(1, math.ceil(math.log2(values)))


def _encode_grid(name: str, codes: torch.Tensor, scale: float, bits: int) -> tuple[dict[str, torch.Tensor], dict]:
    flat = codes.reshape(-1).numpy().astype(np.int64)
    top = levels(bits)
    nonzero = flat != 0
    dense_width, sparse_width = _width(2 * top + 1), _width(2 * top)
    dense_bytes = math.ceil(flat.size * dense_width / 8)
    sparse_bytes = math.ceil(flat.size / 8) + math.ceil(int(nonzero.sum()) * sparse_width / 8)
    out = {name + _SCALE: torch.tensor([scale], dtype=torch.float32)}
    info: dict[str, Any] = {"shape": list(codes.shape), "bits": bits}
    if sparse_bytes < dense_bytes:
        kept = flat[nonzero]
        shifted = kept + top - (kept > 0)  # -L..-1, 1..L -> 0..2L-1
        out[name + _MASK] = torch.from_numpy(np.packbits(nonzero, bitorder="little"))
        out[name + _CODES] = torch.from_numpy(_pack_bits(shifted, sparse_width))
        info.update(layout="mask", width=sparse_width, nonzero=int(nonzero.sum()))
    else:
        out[name + _CODES] = torch.from_numpy(_pack_bits(flat + top, dense_width))
        info.update(layout="dense", width=dense_width)
    return out, info


def _decode_grid(name: str, stored: dict[str, torch.Tensor], info: dict) -> torch.Tensor:
    top, count = levels(info["bits"]), math.prod(info["shape"])
    packed = stored[name + _CODES].numpy()
    if info["layout"] == "mask":
        nonzero = np.unpackbits(stored[name + _MASK].numpy(), count=count, bitorder="little").astype(bool)
        shifted = _unpack_bits(packed, int(info["nonzero"]), info["width"])
        flat = np.zeros(count, dtype=np.int64)
        flat[nonzero] = shifted - top + (shifted >= top)
    else:
        flat = _unpack_bits(packed, count, info["width"]) - top
    codes = torch.from_numpy(flat).reshape(info["shape"]).float()
    return codes * stored[name + _SCALE][0]


def _narrow(tensor: torch.Tensor) -> torch.Tensor:
    for dtype in (torch.int8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if tensor.numel() == 0 or (int(tensor.min()) >= info.min and int(tensor.max()) <= info.max):
            return tensor.to(dtype)
    return tensor


def _encode_integers(name: str, tensor: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The narrowest dense copy, or the common value plus (index, value) of the others if smaller."""
    dense = _narrow(tensor).contiguous()
    flat = tensor.reshape(-1)
    if flat.numel() == 0:
        return {name: dense}, None
    common = int(torch.mode(flat).values)
    index = torch.nonzero(flat != common).reshape(-1)
    index_n, values_n = _narrow(index), _narrow(flat[index])
    sparse_bytes = index_n.numel() * index_n.element_size() + values_n.numel() * values_n.element_size()
    if sparse_bytes >= dense.numel() * dense.element_size():
        return {name: dense}, None
    info = {"shape": list(tensor.shape), "layout": "exceptions", "common": common, "dtype": str(tensor.dtype)}
    return {name + _INDEX: index_n.contiguous(), name + _VALUES: values_n.contiguous()}, info


def _decode_integers(name: str, stored: dict[str, torch.Tensor], info: dict) -> torch.Tensor:
    dtype = getattr(torch, info["dtype"].removeprefix("torch."))
    flat = torch.full((math.prod(info["shape"]),), info["common"], dtype=dtype)
    flat[stored[name + _INDEX].long()] = stored[name + _VALUES].to(dtype)
    return flat.reshape(info["shape"])


def pack(state: dict[str, torch.Tensor], grid_tensors: dict[str, int]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, safetensors metadata) for ``state``; ``grid_tensors`` names the tensors that must
    lie on a grid and its bits (ValueError naming the first that does not)."""
    tensors: dict[str, torch.Tensor] = {}
    layout: dict[str, dict] = {}
    for name, tensor in state.items():
        tensor = tensor.detach().cpu()
        if name in grid_tensors:
            bits = grid_tensors[name]
            found = grid_codes(tensor, bits)
            if found is None:
                raise ValueError(f"{name} does not lie on a {bits}-bit grid; project it first (fedrobust.models.packed.to_grid)")
            stored, info = _encode_grid(name, *found, bits)
        elif not tensor.is_floating_point() and tensor.dtype != torch.bool:
            stored, info = _encode_integers(name, tensor)
        else:
            stored, info = {name: tensor.contiguous()}, None
        tensors.update(stored)
        if info is not None:
            layout[name] = info
    return tensors, {"format": FORMAT, "layout": json.dumps(layout, sort_keys=True)}


def unpack(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None) -> dict[str, torch.Tensor]:
    """The state dict ``pack`` was given (ValueError when the metadata is not a packed layout)."""
    if not metadata or metadata.get("format") != FORMAT:
        raise ValueError(f"no {FORMAT} layout in the file's metadata")
    layout = json.loads(metadata["layout"])
    parts = {name for name in tensors if ".__" in name}
    out = {name: tensor for name, tensor in tensors.items() if name not in parts}
    for name, info in layout.items():
        out[name] = _decode_integers(name, tensors, info) if info["layout"] == "exceptions" \
            else _decode_grid(name, tensors, info)
    return out


def grid_bytes(shape: tuple[int, ...] | list[int], bits: int, sparsity: float) -> int:
    """Bytes ``pack`` spends on a tensor of ``shape`` with int(sparsity * n) zeros (scale included,
    safetensors header aside): what an equal-bytes comparison can plan with before training."""
    count = math.prod(shape)
    nonzero = count - int(sparsity * count)
    top = levels(bits)
    dense = math.ceil(count * _width(2 * top + 1) / 8)
    sparse = math.ceil(count / 8) + math.ceil(nonzero * _width(2 * top) / 8)
    return 4 + min(dense, sparse)
