"""Make a student trainable by Opacus: its per-sample gradient hooks know nn.Linear, nn.Embedding,
norms and convolutions but not nn.GRU / nn.LSTM, so those are swapped for Opacus's DP layers
(same math, same state-dict keys, weights copied) and swapped back after training."""

from __future__ import annotations

from torch import nn

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
