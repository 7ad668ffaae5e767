"""What the networks learn from each row's label: a class index, or a standardised number.

A regression label is z-scored with the train split's mean and population standard deviation (the
manifest's `statistics.label`, computed by ingest), so both frameworks train on a target of unit
scale whatever the label's units (diamond prices run to 18,823 dollars), with the same numbers.
Each export undoes the scaling, so a served prediction is in the label's own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from components.common.features import label_indices


def is_regression(manifest: dict) -> bool:
    return manifest["task"] == "regression"


def n_outputs(manifest: dict) -> int:
    """The network's output width: one per class, or one regression prediction."""
    return 1 if is_regression(manifest) else len(manifest["classes"])


@dataclass(frozen=True)
class LabelScale:
    """label = standardised * std + mean."""

    mean: float
    std: float

    @classmethod
    def from_manifest(cls, manifest: dict) -> LabelScale:
        statistics = manifest["statistics"]["label"]
        return cls(mean=float(statistics["mean"]), std=float(statistics["std"] or 1.0))

    def standardise(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.mean) / self.std

    def restore(self, standardised: np.ndarray) -> np.ndarray:
        return np.asarray(standardised, dtype=np.float64) * self.std + self.mean

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "std": self.std}


def label_values(table: pa.Table, manifest: dict) -> np.ndarray:
    """float64 regression labels of the rows (the snapshot holds no missing one)."""
    return table.column(manifest["label"]).to_numpy().astype(np.float64)


def training_targets(table: pa.Table, manifest: dict) -> np.ndarray:
    """int64 class indices [rows], or the float32 standardised regression labels [rows, 1]."""
    if is_regression(manifest):
        scale = LabelScale.from_manifest(manifest)
        return scale.standardise(label_values(table, manifest))[:, None].astype(np.float32)
    return label_indices(table, manifest)
