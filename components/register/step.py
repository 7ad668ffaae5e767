"""The register step, run by both pipelines right after the judge: log the judged model to MLflow
and register it as challenger, and as champion when the judge blessed it.

It reads the judge's verdict (blessing.json in the evaluation directory) rather than judging
again, so a model is registered exactly as it was evaluated.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.dataset as ds

from components.common.progress import report_step
from components.common.resources import peak_rss_mb, reset_peak_rss
from components.evaluate.blessing import read_blessing
from components.ingest.snapshot import require_manifest
from components.spec import Spec

REGISTER_STEP = "register"
EXAMPLE_ROWS = 5


def register_model(
    model_dir: Path,
    framework: str,
    snapshot_dir: Path,
    spec: Spec,
    evaluation_dir: Path,
    runs_dir: Path,
) -> str:
    """Log and register the model in a step run nested under MLFLOW_RUN_ID (runs_dir: tandem's
    output directory, whose embedded store is used when MLFLOW_TRACKING_URI is unset); returns
    the registry version."""
    import mlflow

    from components.common.tracking import (
        STEP_SECONDS,
        TAG_FINGERPRINT,
        TAG_FRAMEWORK,
        rss_metrics,
        step_run,
    )
    from components.register.registry import log_and_register

    start_rss_mb = reset_peak_rss()
    started = time.perf_counter()
    report_step(REGISTER_STEP)
    manifest = require_manifest(Path(snapshot_dir))
    blessing = read_blessing(evaluation_dir)
    # Only the rows the example needs: the whole test split can be millions of rows.
    example = ds.dataset(Path(snapshot_dir) / "test", format="parquet").head(EXAMPLE_ROWS)
    tags = {
        TAG_FRAMEWORK: framework,
        TAG_FINGERPRINT: manifest["fingerprint"],
        "tandem.blessed": str(blessing["blessed"]).lower(),
    }
    with step_run(REGISTER_STEP, spec.name, runs_dir, tags):
        version = log_and_register(
            Path(model_dir),
            framework,
            manifest,
            example,
            spec.name,
            blessing["metrics"],
            blessing["blessed"],
        )
        mlflow.log_metrics(
            {
                STEP_SECONDS: time.perf_counter() - started,
                **rss_metrics(peak_rss_mb(), start_rss_mb),
            }
        )
    return version
