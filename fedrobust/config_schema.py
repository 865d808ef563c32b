"""Config files: YAML mappings validated into dataclasses, with errors that name the dotted key.

Every config kind (run, distill, simulate, search) is a tree of dataclasses and loads the same way:

- ``extends: other.yaml`` (relative to the file that names it) starts a file or a section from
  another file, which may itself extend one; the naming file's keys are deep-merged over it;
- ``--set key.sub=value`` overrides (values read as YAML) are applied to the file's mapping;
- the mapping is validated into the dataclass: unknown keys, renamed keys and values of the wrong
  type raise ConfigError naming e.g. ``distill.objectives.kd.temprature``; then the config's own
  ``validate(where)`` checks values, naming ``<where>.<key>``.

A dataclass may declare three class attributes that the validator reads:
``RENAMED_KEYS = {"old": "new"}`` (an old key fails with a message that names the new one),
``SET_BY_PARENT = {"seed": "the run's top-level seed"}`` (keys an enclosing config fills in,
which a section may not set itself) and ``LIMITS = {"lr": POSITIVE, "batch_size": AT_LEAST_ONE}``
(the range of a number, or of each number of a list; None passes where the type allows it).
Every float must be finite; a value out of range fails naming the dotted key, or the flag. The same dataclasses give the single-stage commands their
flags (``add_dataclass_flags``), so a default is written once.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import inspect
import math
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import yaml

from fedrobust.errors import ConfigError
from fedrobust.files import read_user_text

T = TypeVar("T")
EXTENDS = "extends"
MergeCheck = Callable[[str, dict[str, Any], dict[str, Any]], None]


def dotted(where: str, key: str) -> str:
    """``where.key``, or ``key`` at the top level."""
    return f"{where}.{key}" if where else key


# --- validation ------------------------------------------------------------------------------

SCALARS = (int, float, str, bool)


def check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(a for a in options if a is not type(None))
        origin = typing.get_origin(annotation)
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(f"config key {where} must be a finite number, got {value}")
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation in (str, bool) and isinstance(value, annotation):
        return value
    if origin is dict and isinstance(value, dict):
        item = (typing.get_args(annotation) + (Any, Any))[1]
        if item in SCALARS:
            return {k: check_type(v, item, f"{where}.{k}") for k, v in value.items()}
        return value
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        item = (typing.get_args(annotation) + (Any,))[0]
        if item in SCALARS:
            return [check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return list(value)
    if annotation is Any:
        return value
    expected = getattr(annotation, "__name__", str(annotation))
    raise ConfigError(f"config key {where} must be {expected}, got {value!r}")


def _check_keys(cls: type, mapping: dict[str, Any], where: str) -> None:
    renamed: Mapping[str, str] = getattr(cls, "RENAMED_KEYS", {})
    set_by_parent: Mapping[str, str] = getattr(cls, "SET_BY_PARENT", {})
    names = {f.name for f in dataclasses.fields(cls)}
    for key in mapping:
        if key in set_by_parent:
            raise ConfigError(f"config key {dotted(where, key)} is not set here: it is {set_by_parent[key]}")
        if key in renamed and key not in names:
            raise ConfigError(f"config key {dotted(where, key)} was renamed: use {dotted(where, renamed[key])}")
    unknown = sorted(set(mapping) - names)
    if unknown:
        allowed = sorted(names - set(set_by_parent))
        raise ConfigError(f"unknown config key {dotted(where, unknown[0])}; allowed here: {', '.join(allowed)}")


@dataclasses.dataclass(frozen=True)
class Limit:
    """The range a number may take: from ``low`` (excluded when ``open_low``) to ``high`` (excluded
    when ``open_high``); a float must also be finite."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def allows(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below  # written so that NaN fails both

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.open_high else '<='} {self.high:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"


POSITIVE = Limit(0, open_low=True)  # learning rates, norms, timeouts, temperatures
AT_LEAST_ONE = Limit(1)  # batch sizes, budgets (epochs, steps, queries, candidates), layer sizes
NON_NEGATIVE = Limit(0)  # seeds, and counts where 0 means "none" (rounds 0: personalization only)
FRACTION = Limit(0, 1)
BELOW_ONE = Limit(0, 1, open_high=True)  # shares of which some must stay: dropout, sparsity


def check_limit(value: Any, limit: Limit, subject: str) -> None:
    """Raise ConfigError ``<subject> must be <range>, got <value>``; None passes (the type allows it)."""
    if value is not None and not limit.allows(value):
        finite = "a finite number " if isinstance(value, float) and not math.isfinite(value) else ""
        raise ConfigError(f"{subject} must be {finite}{limit.describe()}, got {value}")


def check_limits(config: Any, where: str = "", subject: Callable[[str, str], str] | None = None) -> None:
    """Check the fields ``type(config).LIMITS`` names (a list item by item); ``subject(where, field)``
    names a field in the message (default ``config key <where>.<field>``)."""
    subject = subject or (lambda at, name: f"config key {dotted(at, name)}")
    for name, limit in getattr(type(config), "LIMITS", {}).items():
        value = getattr(config, name)
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                check_limit(item, limit, f"{subject(where, name)}[{i}]")
        else:
            check_limit(value, limit, subject(where, name))


def plain_folder_name(value: str, key: str) -> None:
    """A name that becomes a folder must be one folder: no separator, no ``..``, not hidden, not empty."""
    if not value or "/" in value or "\\" in value or value.startswith(".") or value != value.strip() or "\0" in value:
        raise ConfigError(f"config key {key} must be a plain folder name (no '/', '\\', '..', leading '.' or "
                          f"surrounding spaces, not empty), got {value!r}")


def check_all(checks: Iterable[tuple[bool, str]]) -> None:
    """Raise ConfigError ``config key <message>`` for the first check that fails; each message
    starts with the dotted key it is about."""
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"config key {message}")


def dataclass_from_mapping(cls: type[T], mapping: Any, where: str = "") -> T:
    """Build ``cls`` (and the dataclasses it embeds) from a mapping, checking keys and types only;
    every error names the dotted key under ``where``."""
    if not isinstance(mapping, dict):
        raise ConfigError(f"config key {where or '<top level>'} must be a mapping, got {mapping!r}")
    _check_keys(cls, mapping, where)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        key = dotted(where, f.name)
        if f.name not in mapping:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing config key {key}")
            continue
        value = mapping[f.name]
        if dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = dataclass_from_mapping(hints[f.name], value, key)
        elif _dataclass_items(hints[f.name]) is not None:
            values[f.name] = _dataclass_list(_dataclass_items(hints[f.name]), value, key)
        else:
            values[f.name] = check_type(value, hints[f.name], key)
    config = cls(**values)
    check_limits(config, where)
    return config


def _dataclass_items(annotation: Any) -> type | None:
    """``X`` of a ``list[X]`` field whose items are dataclasses, else None."""
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)[:1] or (None,)
        return item if item is not None and dataclasses.is_dataclass(item) else None
    return None


def _dataclass_list(item: type, value: Any, where: str) -> list[Any]:
    """A list of mappings, each checked into ``item``; where ``item.SHORTHAND`` names a field, a bare
    string sets that field alone (``attacks: [fast_pwws]``)."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key {where} must be a list, got {value!r}")
    shorthand = getattr(item, "SHORTHAND", None)
    built = []
    for i, entry in enumerate(value):
        if shorthand and isinstance(entry, str):
            entry = {shorthand: entry}
        built.append(dataclass_from_mapping(item, entry, f"{where}[{i}]"))
    return built


def validated(cls: type[T], mapping: Any, where: str = "") -> T:
    """``dataclass_from_mapping`` followed by the config's own ``validate(where)``, if it has one."""
    config = dataclass_from_mapping(cls, mapping, where)
    check = getattr(config, "validate", None)
    if check is not None:
        check(where)
    return config


def named_entry(entry: Any, where: str, what: str, example: str) -> tuple[str, Any]:
    """(name, params mapping or None) of a config entry written ``name`` or ``{name: {param: value}}``
    (an algorithm, a server optimizer); ``what`` and ``example`` word the error."""
    if isinstance(entry, str):
        return entry, None
    if isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry)), str):
        return next(iter(entry.items()))
    raise ConfigError(f"config key {where} must be {what} name or a one-key mapping {{name: {{param: value}}}}, "
                      f"e.g. {example}; got {entry!r}")


def check_parameters(target: Any, params: dict[str, Any], where: str, skip: tuple[str, ...] = (),
                     limits: Mapping[str, Limit] | None = None) -> None:
    """Raise ConfigError for keys ``target``'s constructor does not take, of the wrong type or out of
    range. ``limits`` gives ranges by parameter name; an int parameter not named there is a size or a
    count: >= 1, or >= 0 where its default is 0 (a seed, an id)."""
    signature = inspect.signature(target)
    hints = typing.get_type_hints(target.__init__) if inspect.isclass(target) else typing.get_type_hints(target)
    accepted = [n for n in signature.parameters if n not in ("self", *skip)]
    for key, value in params.items():
        if key not in accepted:
            raise ConfigError(f"unknown config key {where}.{key}; allowed here: {', '.join(accepted)}")
        if key not in hints:
            continue
        value = check_type(value, hints[key], f"{where}.{key}")
        limit = (limits or {}).get(key)
        if limit is None and _scalar(hints[key])[0] is int and isinstance(value, int):
            default = signature.parameters[key].default
            limit = NON_NEGATIVE if isinstance(default, int) and default <= 0 else AT_LEAST_ONE
        if limit is None:
            continue
        for i, item in enumerate(value) if isinstance(value, list) else [(None, value)]:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                check_limit(item, limit, f"config key {where}.{key}" + ("" if i is None else f"[{i}]"))


def at_least(value: float | None, minimum: float, key: str, allow_none: bool = False) -> None:
    """The one message for a number below its minimum (``None`` passes when ``allow_none``)."""
    if value is None and not allow_none:
        raise ConfigError(f"config key {key} must be >= {minimum:g}, got None")
    check_limit(value, Limit(minimum), f"config key {key}")


# --- composition: extends, deep merge, --set ----------------------------------------------------

def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` over ``base``; nested mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if both else value
    return merged


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A config file's mapping; a file that is missing, unreadable, not UTF-8 or not YAML fails in one
    line naming the file (and the line where known)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    text = read_user_text(path, "config file", ConfigError)
    try:
        mapping = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}{_yaml_position(exc)}: not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys")
    return mapping


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""


def _one_line(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    text = " ".join(part for part in (context, problem) if part) or str(exc)
    return " ".join(text.split())


def resolve_extends(mapping: dict[str, Any], file: Path, *, where: str = "",
                    set_by_parent: Mapping[str, Iterable[str]] | None = None,
                    on_merge: MergeCheck | None = None, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Resolve every ``extends:`` in ``mapping`` (read from ``file``), at the top and in sections.

    ``set_by_parent`` names, per section, keys of an extended file that the enclosing config fills
    itself (a run's ``distill: {extends: distill_full.yaml}`` takes the file's method, not its
    data, teacher or seed); they are dropped from that file. ``on_merge(where, base, update)`` may
    refuse an update before it is merged (a search's per-candidate changes may not add objectives).
    """
    file = file.resolve()
    chain = chain or (file,)
    resolved = {key: resolve_extends(value, file, where=dotted(where, key), set_by_parent=set_by_parent,
                                   on_merge=on_merge, chain=chain)
                if isinstance(value, dict) else value for key, value in mapping.items()}
    parent = resolved.pop(EXTENDS, None)
    if parent is None:
        return resolved
    if not isinstance(parent, str):
        raise ConfigError(f"config key {dotted(where, EXTENDS)} must be a file name, got {parent!r}")
    parent_file = (file.parent / parent).resolve()
    if parent_file in chain:
        raise ConfigError(f"config key {dotted(where, EXTENDS)}: {parent_file} extends itself "
                          f"({' -> '.join(p.name for p in (*chain, parent_file))})")
    base = read_yaml_mapping(parent_file)
    base = resolve_extends(base, parent_file, where=where, set_by_parent=set_by_parent, on_merge=on_merge,
                           chain=(*chain, parent_file))
    dropped = set((set_by_parent or {}).get(where, ()))
    base = {k: v for k, v in base.items() if k not in dropped}
    if on_merge is not None:
        on_merge(where, base, resolved)
    return deep_merge(base, resolved)


def set_dotted(mapping: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested mapping, creating sections as needed."""
    *parents, leaf = key.split(".")
    for part in parents:
        mapping = mapping.setdefault(part, {})
        if not isinstance(mapping, dict):
            raise ConfigError(f"cannot set {key}: {part} is not a section")
    mapping[leaf] = value


def apply_overrides(mapping: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"train.epochs": 3}`` set into a copy of the mapping."""
    result = copy.deepcopy(mapping)
    for key, value in (overrides or {}).items():
        set_dotted(result, key, value)
    return result


def parse_override(text: str) -> tuple[str, Any]:
    """``key.sub=value`` with the value read as YAML (numbers, booleans, null, strings)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: write it as key=value, e.g. rounds=5")
    return key.strip(), yaml.safe_load(raw)


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    return dict(parse_override(item) for item in items)


def load_config(build: type[T] | Callable[[dict[str, Any]], T], path: str | Path,
                overrides: Mapping[str, Any] | None = None,
                set_by_parent: Mapping[str, Iterable[str]] | None = None,
                on_merge: MergeCheck | None = None) -> T:
    """Read ``path`` (extends, overrides) and build it with ``build``: a config dataclass (validated
    with ``validated``) or a function of the mapping. Errors name the file and the dotted key."""
    raw = read_yaml_mapping(path)  # its errors name the file already
    try:
        mapping = resolve_extends(apply_overrides(raw, overrides), Path(path), set_by_parent=set_by_parent,
                                  on_merge=on_merge)
        return validated(build, mapping) if dataclasses.is_dataclass(build) else build(mapping)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# --- command-line flags from a dataclass ------------------------------------------------------

def flag_help(text: str, metavar: str | None = None) -> dict[str, str]:
    """A field's ``metadata``: the help (and value name) of its command-line flag."""
    return {"help": text, **({"metavar": metavar} if metavar else {})}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _scalar(annotation: Any) -> tuple[Any, bool]:
    """(type, optional) of ``int``, ``int | None``, ``list[str]`` ..."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """A flag value of an optional field: ``none`` (any case) is None."""
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else convert(text)

    parse.__name__ = getattr(convert, "__name__", "value")  # argparse names the type in its errors
    return parse


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type, *, skip: Iterable[str] = (),
                        helps: Mapping[str, str] | None = None) -> None:
    """One ``--kebab-name`` flag per field of ``cls``, typed, with the dataclass's default and the
    help of the field's ``metadata["help"]`` (or ``helps``); ``metadata["metavar"]`` names the value."""
    hints = typing.get_type_hints(cls)
    skipped = set(skip) | set(getattr(cls, "SET_BY_PARENT", {}))
    for f in dataclasses.fields(cls):
        if f.name in skipped:
            continue
        annotation, optional = _scalar(hints[f.name])
        default = _default(f)
        described = (helps or {}).get(f.name) or f.metadata.get("help") or ""
        help_text = f"{described} (default: {default})".lstrip().replace("%", "%%")  # argparse %-formats help
        metavar = f.metadata.get("metavar")
        if annotation is bool:
            action = "store_true" if default is False else argparse.BooleanOptionalAction
            parser.add_argument(_flag(f.name), dest=f.name, action=action, default=default, help=help_text)
        elif typing.get_origin(annotation) in (list, tuple):
            (item,) = typing.get_args(annotation)[:1] or (str,)
            parser.add_argument(_flag(f.name), dest=f.name, nargs="+", type=item, default=default,
                                metavar=metavar, help=help_text)
        elif annotation in (int, float, str):
            convert = _optional(annotation) if optional and annotation is not str else annotation
            parser.add_argument(_flag(f.name), dest=f.name, type=convert, default=default, metavar=metavar,
                                help=help_text)
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no command-line flag for {annotation!r}")


def dataclass_from_args(cls: type[T], args: argparse.Namespace, **values: Any) -> T:
    """``cls`` from the flags ``add_dataclass_flags`` added (``values`` fill the rest); a float that is
    not finite or a number outside the field's ``LIMITS`` fails naming the flag."""
    fields = {f.name for f in dataclasses.fields(cls)}
    from_args = {name: getattr(args, name) for name in fields if hasattr(args, name) and name not in values}
    for name, value in from_args.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"{_flag(name)} must be a finite number, got {item}")
    config = cls(**from_args, **values)
    check_limits(config, subject=lambda _where, name: _flag(name))
    return config
