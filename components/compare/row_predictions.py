"""Every run's test-row predictions, read back from its evaluate run's `predictions.parquet` and
lined up row by row: what the paired statistics resample.

Both frameworks predicted the same test rows, so the comparison can pair them row by row; that
holds only when every run judged the same split, which `line_up` checks (same ids, same labels,
same classes) rather than assumes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.common.errors import TandemError
from components.common.frameworks import NAMES
from components.compare.model import PipelineRun
from components.evaluate.predictions import (
    ID,
    LABEL,
    PREDICTION,
    PREDICTIONS_FILE,
    prediction_values,
    probability_matrix,
)
from components.export import probability_column

CLASSIFICATION = "classification"
REGRESSION = "regression"


@dataclass(frozen=True)
class RunPredictions:
    """One evaluate run's predictions table and where it came from (for error messages)."""

    framework: str
    source: str
    table: pa.Table


@dataclass(frozen=True)
class RowPredictions:
    """Test rows in one order: labels (class indices, or numbers for regression) and each
    framework's outputs, [seeds, rows, classes] probabilities or [seeds, rows] predictions, its
    seeds in the order the runs were given."""

    task: str
    classes: tuple[str, ...] | None
    labels: np.ndarray
    outputs: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


def _classes(table: pa.Table) -> tuple[str, ...] | None:
    if PREDICTION in table.column_names:
        return None
    prefix = probability_column("")
    return tuple(name[len(prefix) :] for name in table.column_names if name.startswith(prefix))


def _ordered(run: RunPredictions, ids: Sequence[str]) -> pa.Table:
    position = {row_id: i for i, row_id in enumerate(run.table.column(ID).to_pylist())}
    if len(position) != len(ids) or position.keys() != set(ids):
        raise TandemError(
            f"{run.source}: predicted {len(position)} test rows, not the {len(ids)} rows the "
            "other runs predicted; the runs judged different test splits: compare runs of one "
            "snapshot (tandem compare --run-group)"
        )
    return run.table.take(pa.array([position[row_id] for row_id in ids]))


def line_up(runs: Sequence[RunPredictions]) -> RowPredictions:
    """The runs' predictions on the same rows, in the first run's row order."""
    if not runs:
        raise ValueError("no predictions to line up")
    first = runs[0]
    ids = first.table.column(ID).to_pylist()
    classes = _classes(first.table)
    labels = first.table.column(LABEL)
    outputs: dict[str, list[np.ndarray]] = {framework: [] for framework in NAMES}
    for run in runs:
        if _classes(run.table) != classes:
            raise TandemError(
                f"{run.source}: its classes differ from {first.source}'s; the runs were trained "
                "on different snapshots: compare runs of one snapshot (tandem compare --run-group)"
            )
        table = _ordered(run, ids)
        if not table.column(LABEL).equals(labels):
            raise TandemError(
                f"{run.source}: its test rows carry other labels than {first.source}'s; the "
                "runs judged different test splits: compare runs of one snapshot"
            )
        outputs[run.framework].append(
            prediction_values(table) if classes is None else probability_matrix(table, classes)
        )
    if classes is None:
        label_values = labels.cast(pa.float64()).to_numpy()
    else:
        index = {name: i for i, name in enumerate(classes)}
        label_values = np.array([index[name] for name in labels.to_pylist()], dtype=np.int64)
    return RowPredictions(
        task=REGRESSION if classes is None else CLASSIFICATION,
        classes=classes,
        labels=label_values,
        outputs={framework: np.stack(values) for framework, values in outputs.items() if values},
    )


def load_row_predictions(client, runs: Sequence[PipelineRun]) -> RowPredictions:
    """Download every evaluate run's predictions and line them up (runs in seed order)."""
    from mlflow.exceptions import MlflowException

    loaded = []
    with tempfile.TemporaryDirectory(prefix="tandem-predictions-") as scratch:
        for run in sorted(runs, key=lambda r: (NAMES.index(r.framework), r.seed)):
            source = f"{run.framework} seed {run.seed} (evaluate run {run.evaluate.run_id})"
            target = Path(scratch) / run.evaluate.run_id
            try:
                path = client.download_artifacts(run.evaluate.run_id, PREDICTIONS_FILE, str(target))
            except (MlflowException, OSError):
                raise TandemError(
                    f"{source}: logged no {PREDICTIONS_FILE}, which the paired statistics need; "
                    "rerun that pipeline (tandem run) to log it"
                ) from None
            loaded.append(RunPredictions(run.framework, source, pq.read_table(path)))
    return line_up(loaded)
