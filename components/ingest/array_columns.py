"""Which source columns hold an array feature's values, in row-major order.

A glob (`pixel_*`) is matched against a file's columns and ordered by the numbers in each name
(natural order: pixel_2 before pixel_10), since a file's column order is not a promise and a
plain sort puts pixel_10 first; the label, the id, ignored columns and other features' columns
never match.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

import pyarrow as pa

from components.spec import DatasetSpec, Feature

_NUMBER = re.compile(r"([0-9]+)")


def is_list_type(kind: pa.DataType) -> bool:
    """A list column of any of Arrow's three layouts (list, large_list, fixed_size_list)."""
    return (
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


def natural_key(name: str) -> list[str | int]:
    """`pixel_10` → ['pixel_', 10, '']: text and numbers alternate, so keys compare part by part."""
    return [int(part) if index % 2 else part for index, part in enumerate(_NUMBER.split(name))]


def value_columns(feature: Feature, dataset: DatasetSpec, available: Sequence[str]) -> list[str]:
    """The columns an array feature with `columns` reads: its list as given, or its glob matched
    against `available`. Empty for an array read from a list column (`columns` unset)."""
    if feature.columns is None:
        return []
    if isinstance(feature.columns, list):
        return list(feature.columns)
    others = (f.name for f in dataset.features if f.name != feature.name)
    excluded = {dataset.label, dataset.id, *dataset.ignore_columns, *others}
    matched = [
        name
        for name in available
        if name not in excluded and fnmatch.fnmatchcase(name, feature.columns)
    ]
    return sorted(matched, key=natural_key)
