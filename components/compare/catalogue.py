"""Which MLflow metrics the comparison puts side by side, where each comes from, and how to read
it. A `MetricComparison.metric` is a `MetricDef.key`."""

from __future__ import annotations

from dataclasses import dataclass

QUALITY = "quality"
TRAINING = "training"
SERVING = "serving"
COST = "cost"


@dataclass(frozen=True)
class MetricDef:
    key: str
    step: str  # the step run that logs it: "train" or "evaluate"; "pipeline": the whole run
    name: str  # the metric's name in that run
    label: str
    unit: str
    higher_is_better: bool | None
    group: str


METRICS: tuple[MetricDef, ...] = (
    MetricDef("accuracy", "evaluate", "accuracy", "Accuracy (test)", "", True, QUALITY),
    MetricDef("macro_f1", "evaluate", "macro_f1", "Macro F1 (test)", "", True, QUALITY),
    MetricDef("log_loss", "evaluate", "log_loss", "Log loss (test)", "", False, QUALITY),
    MetricDef("ece", "evaluate", "ece", "Calibration error (ECE)", "", False, QUALITY),
    MetricDef("roc_auc", "evaluate", "roc_auc", "ROC AUC (test)", "", True, QUALITY),
    MetricDef(
        "pr_auc", "evaluate", "pr_auc", "PR AUC / average precision (test)", "", True, QUALITY
    ),
    MetricDef("rmse", "evaluate", "rmse", "RMSE (test)", "label units", False, QUALITY),
    MetricDef("mae", "evaluate", "mae", "MAE (test)", "label units", False, QUALITY),
    MetricDef("r2", "evaluate", "r2", "R² (test)", "", True, QUALITY),
    MetricDef(
        "train.samples_per_s",
        "train",
        "samples_per_s",
        "Training throughput",
        "samples/s",
        True,
        TRAINING,
    ),
    MetricDef("train.fit_s", "train", "fit_s", "Training time (fit)", "s", False, TRAINING),
    MetricDef(
        "train.peak_rss_mb", "train", "peak_rss_mb", "Peak memory, training", "MiB", False, TRAINING
    ),
    MetricDef(
        "evaluate.peak_rss_mb",
        "evaluate",
        "peak_rss_mb",
        "Peak memory, serving (evaluation)",
        "MiB",
        False,
        SERVING,
    ),
    *(
        MetricDef(
            f"latency.batch_{batch}.{quantile}_ms",
            "evaluate",
            f"latency.batch_{batch}.{quantile}_ms",
            f"Latency batch {batch} {quantile}",
            "ms",
            False,
            SERVING,
        )
        for batch in (1, 256)
        for quantile in ("p50", "p99")
    ),
    MetricDef(
        "model_size_bytes", "evaluate", "model_size_bytes", "Model size", "bytes", False, SERVING
    ),
    MetricDef("pipeline.wall_s", "pipeline", "wall_s", "Pipeline wall per run", "s", False, COST),
    MetricDef(
        "pipeline.stages_s",
        "pipeline",
        "stages_s",
        "Pipeline stages (sum of step_s)",
        "s",
        False,
        COST,
    ),
    MetricDef(
        "pipeline.overhead_s",
        "pipeline",
        "overhead_s",
        "Pipeline overhead (wall - stages)",
        "s",
        False,
        COST,
    ),
)

# The per-slice metric the report compares: accuracy for classification, RMSE for regression
# (whether higher is better).
SLICE_METRICS = {"accuracy": True, "rmse": False}
SLICE_PREFIX = "slice."
CURVES = tuple(
    f"{split}_{quantity}" for quantity in ("loss", "accuracy", "rmse") for split in ("train", "val")
)


def slice_name(metric: str) -> tuple[str, str, str] | None:
    """("island", "Biscoe", "accuracy") for "slice.island.Biscoe.accuracy"; None for a metric
    that is not a compared slice metric.

    A value may itself hold dots (a bucket such as "(35.0, 40.0]"); a feature name does not.
    """
    if not metric.startswith(SLICE_PREFIX):
        return None
    for quantity in SLICE_METRICS:
        suffix = f".{quantity}"
        if metric.endswith(suffix):
            feature, _, value = metric[len(SLICE_PREFIX) : -len(suffix)].partition(".")
            return (feature, value, quantity) if feature and value else None
    return None


def metric_def(key: str) -> MetricDef:
    for definition in METRICS:
        if definition.key == key:
            return definition
    raise KeyError(key)
