"""What an ingest run writes into a snapshot: a directory per split and one for quarantined rows,
the run's summary file, and the Parquet schema of the accepted rows.

Apart from the Beam graph (`beam_pipeline`) so that a step which only finds a cached snapshot
does not import Beam (seconds of every scheduled run's start-up).
"""

from __future__ import annotations

import pyarrow as pa

from components.ingest.split import SPLITS
from components.ingest.validate import SYNTHETIC_ID
from components.spec import DatasetSpec

QUARANTINE = "quarantine"
SUMMARY_FILE = "_summary.json"
OUTPUT_DIRS = (*SPLITS, QUARANTINE)


FEATURE_TYPES = {
    "numeric": pa.float64(),
    "categorical": pa.string(),
    "text": pa.string(),
    "array": pa.list_(pa.float32()),
}
"""A feature's column type in the snapshot; an array's values are row-major, channels last."""


def snapshot_schema(dataset: DatasetSpec) -> pa.Schema:
    id_field = pa.field(dataset.id or SYNTHETIC_ID, pa.string(), nullable=False)
    label_type = pa.float64() if dataset.task == "regression" else pa.string()
    label = pa.field(dataset.label, label_type, nullable=False)
    # Validation quarantines every row without its text or array: those columns hold no nulls.
    features = [
        pa.field(
            f.name, FEATURE_TYPES[f.type], f.type in ("numeric", "categorical") and not f.required
        )
        for f in dataset.features
    ]
    return pa.schema([id_field, label, *features])
