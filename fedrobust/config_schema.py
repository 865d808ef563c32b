"""Config files: YAML mappings validated into dataclasses, with errors that name the dotted key.

Every stage's config (distill, simulate, ...) is a tree of dataclasses; unknown keys and values
of the wrong type raise ConfigError naming e.g. ``objectives.kd.temprature``.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from fedrobust.errors import ConfigError

T = TypeVar("T")


def check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(a for a in options if a is not type(None))
        origin = typing.get_origin(annotation)
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation in (str, bool) and isinstance(value, annotation):
        return value
    if origin is dict and isinstance(value, dict):
        return value
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        return list(value)
    if annotation is Any:
        return value
    expected = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"config key {where} must be {expected}, got {value!r}")


def _dataclass_from(cls: type, mapping: Any, where: str) -> Any:
    if not isinstance(mapping, dict):
        raise ConfigError(f"config key {where or '<top level>'} must be a mapping, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}; allowed here: {', '.join(sorted(names))}")
    values = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in mapping:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing config key {key}")
            continue
        value = mapping[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = _dataclass_from(hints[f.name], value, key)
        else:
            values[f.name] = check_type(value, hints[f.name], key)
    return cls(**values)


def dataclass_from_mapping(cls: type, mapping: Any, where: str = "") -> Any:
    """Public name of the validator above, for other config schemas (e.g. the federated one)."""
    return _dataclass_from(cls, mapping, where)


def check_parameters(target: Any, params: dict[str, Any], where: str, skip: tuple[str, ...] = ()) -> None:
    """Raise ConfigError for keys ``target``'s constructor does not take, or of the wrong type."""
    signature = inspect.signature(target)
    hints = typing.get_type_hints(target.__init__) if inspect.isclass(target) else typing.get_type_hints(target)
    accepted = [n for n in signature.parameters if n not in ("self", *skip)]
    for key, value in params.items():
        if key not in accepted:
            raise ConfigError(f"unknown config key {where}.{key}; allowed here: {', '.join(accepted)}")
        if key in hints:
            check_type(value, hints[key], f"{where}.{key}")


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        mapping = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys")
    return mapping


def set_dotted(mapping: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested mapping, creating sections as needed."""
    *parents, leaf = dotted.split(".")
    for key in parents:
        mapping = mapping.setdefault(key, {})
        if not isinstance(mapping, dict):
            raise ConfigError(f"cannot set {dotted}: {key} is not a section")
    mapping[leaf] = value


def build_with_overrides(path: str | Path, mapping: dict[str, Any], overrides: dict[str, Any] | None,
                         build: Callable[[dict[str, Any]], T]) -> T:
    """Apply dotted ``--set`` overrides to a file's mapping and validate it, naming the file in errors."""
    for dotted, value in (overrides or {}).items():
        set_dotted(mapping, dotted, value)
    try:
        return build(mapping)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` with the value read as YAML (numbers, booleans, null, strings)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: write it as key=value, e.g. rounds=5")
    return key.strip(), yaml.safe_load(raw)
