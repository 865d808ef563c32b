"""Per-row symmetric int8 storage of a state dict: w ~ scale[row] * q, q in [-127, 127].

Matrices and tables (dim >= 2) are quantized; biases, norms and scalars stay fp32; integer
buffers (the pruned vocabulary's id map) are narrowed to int16 when their values fit, and
``load_state_dict`` widens them back. The file holds ``name.q`` (int8) + ``name.scale``
(fp32 per row) for each quantized tensor.
"""

from __future__ import annotations

import torch

_Q, _SCALE = ".__q", ".__scale"


def quantize_tensor(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows = weight.reshape(weight.shape[0], -1).float()
    scale = rows.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    q = torch.round(rows / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(weight.shape), scale


def _fits_int16(tensor: torch.Tensor) -> bool:
    if tensor.is_floating_point() or tensor.dtype in (torch.bool, torch.int8, torch.uint8, torch.int16):
        return False
    return tensor.numel() == 0 or (int(tensor.min()) >= -32768 and int(tensor.max()) <= 32767)


def quantize_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if tensor.is_floating_point() and tensor.dim() >= 2:
            q, scale = quantize_tensor(tensor)
            out[name + _Q], out[name + _SCALE] = q.contiguous(), scale.contiguous()
        elif _fits_int16(tensor):
            out[name] = tensor.to(torch.int16).contiguous()
        else:
            out[name] = tensor.contiguous()
    return out


def dequantize_state_dict(stored: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for name, tensor in stored.items():
        if name.endswith(_Q):
            base = name[: -len(_Q)]
            scale = stored[base + _SCALE]
            out[base] = (tensor.float().reshape(tensor.shape[0], -1) * scale[:, None]).reshape(tensor.shape)
        elif not name.endswith(_SCALE):
            out[name] = tensor
    return out


def fake_quantize_(model: torch.nn.Module) -> torch.nn.Module:
    """Round ``model``'s weights to their int8 values in place (what an int8 artifact computes)."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    model.load_state_dict(dequantize_state_dict(quantize_state_dict(state)))
    return model
