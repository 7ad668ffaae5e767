"""`tandem compare`: MLflow runs → Comparison → HTML report with plots, logged back to MLflow."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from components.common import layer_summary
from components.common.frameworks import NAMES, PYTORCH, TENSORFLOW
from components.common.input_probe import PROBE_ARTIFACT
from components.common.tracking import TAG_RUN_GROUP, TAG_STEP
from components.compare.catalogue import METRICS, QUALITY, SLICE_METRICS, slice_name
from components.compare.collect import collect_runs, require_both_frameworks
from components.compare.fairness import audit
from components.compare.model import Comparison, MetricComparison, PipelineRun
from components.compare.row_predictions import RowPredictions, load_row_predictions
from components.compare.stats import (
    ALPHA,
    METHOD,
    cost_comparison,
    descriptive_comparison,
    quality_comparisons,
)
from components.compare.verdict import VERDICT_ARTIFACT, verdict_lines, verdict_text

EXPERIMENT_PREFIX = "tandem-"
COMPARE_STEP = "compare"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    plots: dict[str, Path]
    mlflow_run_id: str | None = None


def _values(runs: list[PipelineRun], framework: str, step: str, name: str) -> list[float]:
    values = []
    for run in runs:
        step_run = getattr(run, step) if run.framework == framework else None
        if step_run is not None and name in step_run.metrics:
            values.append(step_run.metrics[name])
    return values


def _both(runs: list[PipelineRun], step: str, name: str) -> tuple[list[float], list[float]] | None:
    """Each framework's per-seed values of a metric; None unless both logged it."""
    tensorflow = _values(runs, TENSORFLOW.name, step, name)
    pytorch = _values(runs, PYTORCH.name, step, name)
    return (tensorflow, pytorch) if tensorflow and pytorch else None


def metric_comparisons(
    runs: list[PipelineRun], rows: RowPredictions
) -> tuple[MetricComparison, ...]:
    """The catalogue's metrics that both frameworks logged, in catalogue order: quality metrics
    judged paired on `rows`, cost figures as ratios."""
    values = {d.key: _both(runs, d.step, d.name) for d in METRICS}
    logged = [d for d in METRICS if values[d.key] is not None]
    quality = quality_comparisons([d for d in logged if d.group == QUALITY], values, rows)
    judged = {comparison.metric: comparison for comparison in quality}
    for definition in logged:
        if definition.group != QUALITY:
            judged[definition.key] = cost_comparison(definition, values[definition.key])
    return tuple(judged[d.key] for d in logged)


def slice_comparisons(runs: list[PipelineRun]) -> tuple[MetricComparison, ...]:
    """Per-slice accuracy or RMSE (slice.<feature>.<value>.<metric>), in the order the runs
    logged; descriptive (see `stats`)."""
    names = dict.fromkeys(
        name for run in runs for name in run.evaluate.metrics if slice_name(name) is not None
    )
    compared = []
    for name in names:
        feature, value, quantity = slice_name(name)
        values = _both(runs, "evaluate", name)
        if values is not None:
            label = f"{feature} = {value}: {quantity}"
            compared.append(descriptive_comparison(name, label, SLICE_METRICS[quantity], values))
    return tuple(compared)


def _artifact_text(client, run_id: str, artifact: str) -> str | None:
    """A run's text artifact, or None when the run logged none."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory(prefix="tandem-artifact-") as scratch:
        try:
            path = client.download_artifacts(run_id, artifact, scratch)
        except (MlflowException, OSError):
            return None
        return Path(path).read_text()


def probe_loader(client) -> Callable[[str], dict | None]:
    """Reads a train run's input probe artifact (None when the run logged none)."""

    def load(run_id: str) -> dict | None:
        text = _artifact_text(client, run_id, PROBE_ARTIFACT)
        return None if text is None else json.loads(text)

    return load


def architectures(client, runs: list[PipelineRun]) -> dict[str, str | None]:
    """Each framework's architecture summary, from the train run of its first seed (every seed
    builds the same network; only the initial weights differ)."""
    summaries: dict[str, str | None] = {}
    for framework in NAMES:
        seeded = sorted((r for r in runs if r.framework == framework), key=lambda r: r.seed)
        summaries[framework] = (
            _artifact_text(client, seeded[0].train.run_id, layer_summary.ARTIFACT)
            if seeded
            else None
        )
    return summaries


def build_comparison(uri: str, experiment: str, run_group: str | None = None) -> Comparison:
    """Read the experiment's pipeline runs from MLflow and compare the two frameworks."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs, group = collect_runs(client, experiment, run_group)
    require_both_frameworks(runs, experiment)
    rows = load_row_predictions(client, runs)
    comparison = Comparison(
        spec_name=experiment.removeprefix(EXPERIMENT_PREFIX),
        experiment=experiment,
        tracking_uri=uri,
        run_group=group,
        runs=tuple(runs),
        metrics=metric_comparisons(runs, rows),
        slices=slice_comparisons(runs),
        audit=audit(runs, probe_loader(client)),
        method=METHOD,
        alpha=ALPHA,
        architectures=architectures(client, runs),
        test_rows=rows.rows,
    )
    return replace(comparison, verdict=verdict_lines(comparison))


def comparison_document(comparison: Comparison) -> dict:
    """The comparison as plain JSON (the report's numbers, for machines)."""
    document = asdict(comparison)
    document["audit_passed"] = comparison.audit_passed
    return document


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(staging, path)


def write_report(comparison: Comparison, output: Path) -> ReportFiles:
    """output (HTML, self-contained) and its PNG plots in <output stem>-plots/ beside it."""
    from components.compare.html import render_html
    from components.compare.plots import write_plots

    output = Path(output).resolve()
    plots = write_plots(comparison, output.parent / f"{output.stem}-plots")
    _write_atomically(output, render_html(comparison, plots))
    _write_atomically(
        output.with_suffix(".json"), json.dumps(comparison_document(comparison), indent=2)
    )
    return ReportFiles(output, plots)


def log_report(comparison: Comparison, files: ReportFiles) -> str:
    """A `compare` run in the experiment holding the report, its plots, the JSON numbers and the
    verdict, with each framework's mean of every compared metric, each cost ratio and each
    Holm-adjusted p-value as run metrics."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(comparison.tracking_uri)
    experiment = client.get_experiment_by_name(comparison.experiment)
    tags = {TAG_STEP: COMPARE_STEP, "tandem.audit_passed": str(comparison.audit_passed).lower()}
    if comparison.run_group:
        tags[TAG_RUN_GROUP] = comparison.run_group
    run = client.create_run(experiment.experiment_id, run_name=COMPARE_STEP, tags=tags)
    run_id = run.info.run_id
    for metric in comparison.metrics:
        client.log_metric(run_id, f"{metric.metric}.tensorflow_mean", metric.tensorflow.mean)
        client.log_metric(run_id, f"{metric.metric}.pytorch_mean", metric.pytorch.mean)
        if metric.ratio is not None:
            client.log_metric(
                run_id, f"{metric.metric}.pytorch_over_tensorflow", metric.ratio.estimate
            )
        if metric.p_value is not None:
            client.log_metric(run_id, f"{metric.metric}.p_holm", metric.p_value)
    client.log_text(run_id, verdict_text(comparison), VERDICT_ARTIFACT)
    client.log_artifact(run_id, str(files.html))
    client.log_artifact(run_id, str(files.html.with_suffix(".json")))
    for path in files.plots.values():
        client.log_artifact(run_id, str(path), "plots")
    client.set_terminated(run_id)
    return run_id
