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


def snapshot_schema(dataset: DatasetSpec) -> pa.Schema:
    id_field = pa.field(dataset.id or SYNTHETIC_ID, pa.string(), nullable=False)
    label_type = pa.float64() if dataset.task == "regression" else pa.string()
    label = pa.field(dataset.label, label_type, nullable=False)
    features = [
        pa.field(f.name, pa.float64() if f.type == "numeric" else pa.string(), not f.required)
        for f in dataset.features
    ]
    return pa.schema([id_field, label, *features])
