"""Make a student trainable by Opacus: its per-sample gradient hooks know nn.Linear, nn.Embedding,
norms and convolutions but not nn.GRU / nn.LSTM, so those are swapped for Opacus's DP layers
(same math, same state-dict keys, weights copied) and swapped back after training.

Opacus's DP recurrent layers give the per-sample gradients of a PackedSequence in packed order
(texts sorted by length, longest first), while every other layer gives them in the batch's order;
``PackedBatchOrder`` puts them back in the batch's order before the optimizer clips, or each
text's "per-sample" norm would add up parts of different texts' gradients and the clipping would
not bound any one text's contribution (measured with opacus 1.6: a length-sorted permutation of
the GRU rows; tests/test_privacy_dp_packed_order.py)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from fedrobust.errors import ConfigError

_RNN_KEYS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional")


def _dp_class(module: nn.Module):
    from opacus.layers import DPGRU, DPLSTM

    return {nn.GRU: DPGRU, nn.LSTM: DPLSTM}.get(type(module))


def _plain_class(module: nn.Module):
    from opacus.layers import DPGRU, DPLSTM

    return {DPGRU: nn.GRU, DPLSTM: nn.LSTM}.get(type(module))


def _rebuild(module: nn.Module, cls) -> nn.Module:
    copy = cls(**{key: getattr(module, key) for key in _RNN_KEYS})
    copy.load_state_dict(module.state_dict())
    trainable = all(p.requires_grad for p in module.parameters())
    for p in copy.parameters():
        p.requires_grad_(trainable)
    copy.train(module.training)
    return copy


def _swap(model: nn.Module, pick, trainable_only: bool = False) -> list[str]:
    swapped = []
    for name, module in list(model.named_modules()):
        cls = pick(module)
        if cls is None or (trainable_only and not any(p.requires_grad for p in module.parameters())):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, _rebuild(module, cls))
        swapped.append(name)
    return swapped


def to_opacus(model: nn.Module, trainable_only: bool = False) -> list[str]:
    """Swap recurrent layers for Opacus's DP layers in place; returns the swapped module names.

    ``trainable_only``: leave frozen ones alone (Opacus ignores frozen layers, and the torch
    GRU is much faster than DPGRU's step-by-step loop)."""
    return _swap(model, _dp_class, trainable_only)


def from_opacus(model: nn.Module) -> list[str]:
    """Swap Opacus's DP recurrent layers back for the torch ones (faster inference, same keys)."""
    return _swap(model, _plain_class)


def incompatible(model: nn.Module, reason: str) -> ConfigError:
    first_line = reason.strip().splitlines()[0][:300] if reason.strip() else "unsupported layers"
    return ConfigError(
        f"personalize.dp: Opacus cannot train {type(model).__name__} privately ({first_line}); "
        f"personalize only its head (personalize.params: head), choose another student, or turn personalize.dp off"
    )


def check_trainable_by_opacus(model: nn.Module) -> None:
    """Raise ConfigError naming the layers Opacus cannot compute per-sample gradients for."""
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise incompatible(model, "; ".join(str(e) for e in errors[:3]))


class PackedBatchOrder:
    """Reorders the per-sample gradients of a model's Opacus recurrent layers into the batch's order.

    Forward pre-hooks record each layer's last PackedSequence input; ``restore`` (after the backward,
    before the optimizer's step) indexes the layer's ``grad_sample`` rows with that packing's
    ``unsorted_indices``, the permutation pad_packed_sequence applies to the outputs."""

    def __init__(self, model: nn.Module) -> None:
        from opacus.layers import DPGRU, DPLSTM

        self._unsorted: dict[nn.Module, torch.Tensor | None] = {}
        self._handles = []
        for module in model.modules():
            if isinstance(module, (DPGRU, DPLSTM)):
                self._unsorted[module] = None
                self._handles.append(module.register_forward_pre_hook(self._record))

    def _record(self, module: nn.Module, args: tuple) -> None:
        packed = args[0] if args else None
        self._unsorted[module] = packed.unsorted_indices if isinstance(packed, PackedSequence) else None

    def restore(self) -> None:
        for module, unsorted in self._unsorted.items():
            if unsorted is None:
                continue
            for p in module.parameters():
                sample = getattr(p, "grad_sample", None)
                if isinstance(sample, torch.Tensor) and len(sample) == len(unsorted):
                    p.grad_sample = sample.index_select(0, unsorted)
            self._unsorted[module] = None

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
