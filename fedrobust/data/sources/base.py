"""What every data source returns: a `datasets.Dataset` with text, label (ClassLabel) and owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import datasets

from fedrobust.data.json_files import is_plain_text, json_kind
from fedrobust.errors import DataError

TEXT, LABEL, OWNER = "text", "label", "owner"
# Extra columns a pre-split source (a LEAF directory) may carry; partitioners honour them.
SPLIT, PUBLIC = "split", "public"


@dataclass(frozen=True)
class SourceOptions:
    """Column mapping and hub options; packaged sources ignore what they do not need."""

    text_column: str = "text"
    label_column: str = "label"
    owner_column: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"


SourceLoader = Callable[[str, SourceOptions], datasets.Dataset]


def make_dataset(
    texts: Sequence[str],
    labels: Sequence[Any],
    *,
    label_names: Sequence[str] | None = None,
    owners: Sequence[str] | None = None,
    extra: dict[str, Sequence[Any]] | None = None,
    origin: str = "source",
) -> datasets.Dataset:
    """Build the canonical dataset; labels are names, ints or anything hashable.

    With ``label_names`` the labels must be those names or indices into them; without, the
    sorted distinct label values become the class names.
    """
    if len(texts) != len(labels) or (owners is not None and len(owners) != len(texts)):
        raise DataError(f"{origin}: text, label and owner columns differ in length")
    _check_texts(texts, owners, origin)
    _check_labels(labels, origin)
    if label_names is not None:
        _check_label_names(label_names, origin)
    if label_names is None:
        distinct = sorted(set(labels), key=lambda v: (str(type(v)), v))
        label_names = [str(v) for v in distinct]
        index = {v: i for i, v in enumerate(distinct)}
    else:
        index = {name: i for i, name in enumerate(label_names)}
        index.update({i: i for i in range(len(label_names))})
    try:
        label_ids = [index[v] for v in labels]
    except KeyError as exc:
        raise DataError(f"{origin}: label {exc.args[0]!r} is not one of {list(label_names)}") from None
    if len(label_names) < 2:
        raise DataError(f"{origin}: a classification dataset needs at least 2 labels, found {list(label_names)}")
    columns: dict[str, Any] = {TEXT: [str(t) for t in texts], LABEL: label_ids}
    features = {TEXT: datasets.Value("string"), LABEL: datasets.ClassLabel(names=list(label_names))}
    if owners is not None:
        columns[OWNER] = [str(o) for o in owners]
        features[OWNER] = datasets.Value("string")
    for name, values in (extra or {}).items():
        columns[name] = list(values)
    features_obj = datasets.Features(features)
    dataset = datasets.Dataset.from_dict({k: columns[k] for k in features}, features=features_obj)
    for name in extra or {}:
        dataset = dataset.add_column(name, columns[name])
    return dataset


def _row(position: int, owners: Sequence[str] | None) -> str:
    return f"row {position}" + (f" (owner {owners[position]!r})" if owners is not None else "")


def _check_texts(texts: Sequence[Any], owners: Sequence[str] | None, origin: str) -> None:
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"{origin}: the text of {_row(position, owners)} is {json_kind(text)}, not text")
        if not text.strip():
            raise DataError(f"{origin}: the text of {_row(position, owners)} is empty; remove the row or give it text")
        if not is_plain_text(text):
            raise DataError(f"{origin}: the text of {_row(position, owners)} holds a lone surrogate "
                            f"({ascii(text)[:60]}); texts must be valid Unicode")


def _check_labels(labels: Sequence[Any], origin: str) -> None:
    """Class indices (ints >= 0) or class names (non-empty strings), one kind: no null, -1, 0.5 or lists."""
    first: tuple[int, Any] | None = None
    for position, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, (int, str)):
            raise DataError(f"{origin}: the label of row {position} is {json_kind(label)}; "
                            "a label is a class index (an integer >= 0) or a class name (a string)")
        if isinstance(label, int) and label < 0:
            raise DataError(f"{origin}: the label of row {position} is {label}; class indices start at 0 "
                            "(map the labels to 0..K-1 or to class names)")
        if isinstance(label, str) and (not label.strip() or not is_plain_text(label)):
            raise DataError(f"{origin}: the label of row {position} is {ascii(label)}; a class name is non-empty text")
        if first is None:
            first = (position, label)
        elif isinstance(label, str) != isinstance(first[1], str):
            raise DataError(f"{origin}: the label of row {position} is {label!r} but row {first[0]}'s is "
                            f"{first[1]!r}: labels mix class indices and class names; use one kind")


def _check_label_names(label_names: Sequence[Any], origin: str) -> None:
    if isinstance(label_names, str) or not all(isinstance(name, str) and name.strip() for name in label_names):
        raise DataError(f"{origin}: label_names {str(label_names)[:60]} must be a list of non-empty class names")
    if len(set(label_names)) != len(label_names):
        raise DataError(f"{origin}: label_names {list(label_names)} name a class twice; class names must be distinct")


def from_table(table: datasets.Dataset, options: SourceOptions, origin: str) -> datasets.Dataset:
    """Map a user's table (hub or local file) onto the canonical columns."""
    available = table.column_names
    for role, column in (("text", options.text_column), ("label", options.label_column)):
        if column not in available:
            raise DataError(
                f"{origin}: no {role} column {column!r}; columns are {available}; "
                f"pass --{role}-column NAME"
            )
    owner_column = options.owner_column
    if owner_column is not None and owner_column not in available:
        raise DataError(f"{origin}: no owner column {owner_column!r}; columns are {available}")
    if owner_column is None and OWNER in available:
        owner_column = OWNER
    label_feature = table.features[options.label_column]
    label_names = label_feature.names if isinstance(label_feature, datasets.ClassLabel) else None
    texts = table[options.text_column]
    if any(not isinstance(t, str) for t in texts):
        raise DataError(f"{origin}: column {options.text_column!r} holds non-text values")
    return make_dataset(
        texts,
        table[options.label_column],
        label_names=label_names,
        owners=table[owner_column] if owner_column else None,
        origin=origin,
    )
