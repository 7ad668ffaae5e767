"""The shared evaluation step, the same for both frameworks once the adapter has predicted:
predictions → contract check → metrics (overall and per slice) → serving figures → blessing
against thresholds and the registry's champion → MLflow run. Registering the model is the next
step's job (`components.register`): the pipelines run it after the judge.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from components.common.frameworks import by_name
from components.common.model_registry import Champion, current_champion
from components.common.progress import report_step
from components.common.resources import peak_rss_mb, reset_peak_rss
from components.common.targets import is_regression
from components.common.tracking import rss_metrics
from components.evaluate.blessing import BLESSING_FILE, Blessing, judge, write_blessing
from components.evaluate.latency import batch_of, measure_latency, model_size_bytes
from components.evaluate.metrics import confusion_matrix, slice_metrics, task_metrics, truth
from components.evaluate.plots import (
    plot_calibration,
    plot_confusion_matrix,
    plot_predicted_vs_true,
)
from components.evaluate.predictions import (
    PREDICTIONS_FILE,
    build_predictions,
    manifest_classes,
    outputs_of,
    read_predictions,
    validate_predictions,
    write_predictions,
)
from components.export import load_predictor
from components.ingest.snapshot import require_manifest
from components.spec import Spec

CONFUSION_PLOT = "confusion_matrix.png"
CALIBRATION_PLOT = "calibration.png"
PREDICTED_PLOT = "predicted_vs_true.png"
LATENCY_BATCHES = (1, 256)
_METRIC_NAME = re.compile(r"[^\w.\- /]")


@dataclass
class EvaluationResult:
    work_dir: Path
    metrics: dict[str, float]
    blessing: Blessing
    mlflow_run_id: str | None = None


def _serving_figures(
    predictor, test, calls: int, model_dir: Path, start_rss_mb: float | None
) -> dict[str, float]:
    """Latency of real predict calls on the loaded model, model size on disk, peak memory (and the
    RSS when the step's peak window started)."""
    figures: dict[str, float] = {}
    for size in LATENCY_BATCHES:
        batch = batch_of(test, size)
        timing = measure_latency(lambda batch=batch: predictor.predict(batch), calls=calls)
        figures[f"latency.batch_{size}.p50_ms"] = timing["p50_ms"]
        figures[f"latency.batch_{size}.p99_ms"] = timing["p99_ms"]
    figures["model_size_bytes"] = float(model_size_bytes(model_dir))
    figures.update(rss_metrics(peak_rss_mb(), start_rss_mb))
    return figures


def _mlflow_key(name: str) -> str:
    """Category values can hold characters MLflow refuses in metric names."""
    return _METRIC_NAME.sub("_", name)


def evaluate_model(
    model_dir: Path,
    framework: str,
    snapshot_dir: Path,
    spec: Spec,
    work_dir: Path,
    runs_dir: Path,
    track: bool = True,
) -> EvaluationResult:
    """Judge an exported model on the snapshot's test split; log the evaluation when tracking.

    work_dir receives predictions.parquet, blessing.json and the plots; runs_dir is tandem's
    output directory (its embedded MLflow store is used when MLFLOW_TRACKING_URI is not set).
    """
    started = time.perf_counter()
    report_step("evaluate")
    start_rss_mb = reset_peak_rss()
    manifest = require_manifest(Path(snapshot_dir))
    test = pq.read_table(Path(snapshot_dir) / "test")
    predictor = load_predictor(Path(model_dir), framework)
    outputs = predictor.predict(test)

    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    predictions_path = work_dir / PREDICTIONS_FILE
    write_predictions(
        build_predictions(
            test.column(manifest["id_column"]),
            test.column(manifest["label"]),
            outputs,
            manifest_classes(manifest),
        ),
        predictions_path,
    )
    predictions = validate_predictions(
        read_predictions(predictions_path), test, manifest, source=str(predictions_path)
    )
    labels, checked = truth(test, manifest), outputs_of(predictions, manifest)
    metrics = task_metrics(labels, checked, manifest)
    metrics.update(slice_metrics(predictions, test, manifest))
    metrics.update(
        _serving_figures(predictor, test, spec.evaluation.latency_calls, model_dir, start_rss_mb)
    )
    plots = _plot(labels, checked, manifest, work_dir, f"{spec.name} · {framework}")

    champion = None
    if track:
        champion = _champion(spec.name, framework, runs_dir)
    blessing = judge(
        metrics,
        spec.evaluation,
        spec.dataset.task,
        champion.metrics if champion else None,
        champion.version if champion else None,
    )
    write_blessing(blessing, work_dir / BLESSING_FILE)
    result = EvaluationResult(work_dir, metrics, blessing)
    if track:
        _track(result, predictor, manifest, test, spec, runs_dir, plots, started)
    return result


def _plot(labels, outputs, manifest: dict, work_dir: Path, title: str) -> dict:
    """The task's plots into work_dir; returns {"files": [names], "documents": {name: dict}}
    (the confusion matrix as numbers too) for MLflow."""
    if is_regression(manifest):
        plot_predicted_vs_true(labels, outputs, work_dir / PREDICTED_PLOT, title)
        return {"files": [PREDICTED_PLOT], "documents": {}}
    matrix = confusion_matrix(labels, outputs.argmax(axis=1), len(manifest["classes"]))
    plot_confusion_matrix(matrix, manifest["classes"], work_dir / CONFUSION_PLOT, title)
    plot_calibration(labels, outputs, work_dir / CALIBRATION_PLOT, title)
    document = {"classes": manifest["classes"], "matrix": matrix.tolist()}
    return {
        "files": [CONFUSION_PLOT, CALIBRATION_PLOT],
        "documents": {"confusion_matrix.json": document},
    }


def _champion(spec_name: str, framework: str, runs_dir: Path) -> Champion | None:
    from mlflow.tracking import MlflowClient

    from components.common.tracking import tracking_uri

    client = MlflowClient(tracking_uri(runs_dir), registry_uri=tracking_uri(runs_dir))
    return current_champion(client, by_name(framework).registered_model_name(spec_name))


def _track(result, predictor, manifest, test, spec, runs_dir, plots, started: float) -> None:
    """Log the evaluation; the run's step_s covers the whole evaluate step."""
    import mlflow

    from components.common.tracking import STEP_SECONDS, TAG_FINGERPRINT, TAG_FRAMEWORK, step_run

    tags = {
        TAG_FRAMEWORK: predictor.framework,
        TAG_FINGERPRINT: manifest["fingerprint"],
        "tandem.blessed": str(result.blessing.blessed).lower(),
        "tandem.model_format": predictor.format,
    }
    fallback = getattr(predictor, "fallback_reason", None)
    if fallback:
        tags["tandem.model_format_fallback"] = fallback
    with step_run("evaluate", spec.name, runs_dir, tags) as run:
        mlflow.log_metrics({_mlflow_key(k): v for k, v in result.metrics.items()})
        for name, document in plots["documents"].items():
            mlflow.log_dict(document, name)
        for name in (PREDICTIONS_FILE, BLESSING_FILE, *plots["files"]):
            mlflow.log_artifact(str(result.work_dir / name))
        mlflow.log_metrics(
            {"test_examples": float(test.num_rows), STEP_SECONDS: time.perf_counter() - started}
        )
        result.mlflow_run_id = run.info.run_id
