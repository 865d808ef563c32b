"""What every data source returns: a `datasets.Dataset` with text, label (ClassLabel) and owner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import datasets

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
