"""Per-feature statistics of the train split, computed per batch and merged (Chan et al.).

Both trainers normalise with these numbers: numeric features by mean and the population standard
deviation (ddof=0, as tf.Transform's `scale_to_z_score`), categorical features one-hot over the
spec's category list (the vocabulary, in spec order; counts are for reading), and a regression
label the same way as a numeric feature (both train on the standardised target). An array feature
gets one set of moments over every value of the train split (the network reads (x - mean) / std);
a text feature's statistics come from its tokenizer, trained after the Beam run
(`components.ingest.text_tokenizer`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.spec import DatasetSpec

Partial = dict[str, dict[str, Any]]


def _moments(column: pa.ChunkedArray) -> dict[str, Any]:
    return _moments_of(column.drop_null().to_numpy(), column.null_count)


def _array_moments(column: pa.ChunkedArray) -> dict[str, Any]:
    """Moments over every value of every row (in float64); `missing` counts rows."""
    values = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64)
    return _moments_of(values, column.null_count)


def _moments_of(values: np.ndarray, missing: int) -> dict[str, Any]:
    count = len(values)
    mean = float(values.mean()) if count else 0.0
    return {
        "count": count,
        "missing": missing,
        "mean": mean,
        "m2": float(((values - mean) ** 2).sum()) if count else 0.0,
        "min": float(values.min()) if count else math.inf,
        "max": float(values.max()) if count else -math.inf,
    }


def partial_statistics(table: pa.Table, dataset: DatasetSpec) -> Partial:
    """Mergeable moments (count, mean, M2, min, max) of the numeric and array features (and of a
    regression label) and category counts of one batch."""
    partial: Partial = {}
    for feature in dataset.features:
        column = table.column(feature.name)
        if feature.type == "numeric":
            partial[feature.name] = _moments(column)
        elif feature.type == "array":
            partial[feature.name] = _array_moments(column)
        elif feature.type == "categorical":
            counts = pc.value_counts(column.drop_null())
            partial[feature.name] = {
                "missing": column.null_count,
                "counts": {str(item["values"]): int(item["counts"]) for item in counts.to_pylist()},
            }
    if dataset.task == "regression":
        partial[dataset.label] = _moments(table.column(dataset.label))
    return partial


def merge_statistics(left: Partial, right: Partial) -> Partial:
    if not left:
        return right
    if not right:
        return left
    merged: Partial = {}
    for name, a in left.items():
        b = right[name]
        if "counts" in a:
            counts = dict(a["counts"])
            for value, n in b["counts"].items():
                counts[value] = counts.get(value, 0) + n
            merged[name] = {"missing": a["missing"] + b["missing"], "counts": counts}
            continue
        count = a["count"] + b["count"]
        delta = b["mean"] - a["mean"]
        merged[name] = {
            "count": count,
            "missing": a["missing"] + b["missing"],
            "mean": a["mean"] + delta * b["count"] / count if count else 0.0,
            "m2": a["m2"] + b["m2"] + delta**2 * a["count"] * b["count"] / count if count else 0.0,
            "min": min(a["min"], b["min"]),
            "max": max(a["max"], b["max"]),
        }
    return merged


def _summary(stats: dict[str, Any] | None) -> dict[str, Any]:
    count = stats["count"] if stats else 0
    return {
        "count": count,
        "missing": stats["missing"] if stats else 0,
        "mean": stats["mean"] if count else None,
        "std": float(np.sqrt(stats["m2"] / count)) if count else None,
        "min": stats["min"] if count else None,
        "max": stats["max"] if count else None,
    }


def finalize_statistics(partial: Partial, dataset: DatasetSpec) -> dict[str, dict[str, Any]]:
    """The manifest's `statistics`: what each trainer needs to normalise its inputs (and, for
    regression, its target: `label`). `text` stays empty here: see the module's docstring."""
    numeric: dict[str, Any] = {}
    categorical: dict[str, Any] = {}
    array: dict[str, Any] = {}
    for feature in dataset.features:
        stats = partial.get(feature.name)
        if feature.type == "numeric":
            numeric[feature.name] = _summary(stats)
        elif feature.type == "array":
            array[feature.name] = {"shape": list(feature.shape), **_summary(stats)}
        elif feature.type == "categorical":
            counts = stats["counts"] if stats else {}
            categorical[feature.name] = {
                "vocabulary": list(feature.values or []),
                "counts": {value: counts.get(value, 0) for value in feature.values or []},
                "missing": stats["missing"] if stats else 0,
            }
    statistics = {
        "split": "train",
        "std_ddof": 0,
        "numeric": numeric,
        "categorical": categorical,
        "text": {},
        "array": array,
    }
    if dataset.task == "regression":
        statistics["label"] = _summary(partial.get(dataset.label))
    return statistics
