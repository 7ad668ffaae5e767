"""TFX Trainer's entry point: `run_fn(fn_args)` (generic executor), referenced by dotted path.

Reads ExampleGen's raw Parquet splits into memory through the Transform component's graph
(`data.read_split`: the whole transformed train split is held in memory, rows x n_inputs x 4
bytes), fits the spec's network on those arrays (`training.fit_model`, one Keras `fit`),
logs to TensorBoard and MLflow (a nested "train" run under MLFLOW_RUN_ID when the pipeline sets
one), exports the evaluator's SavedModel to `fn_args.serving_model_dir` and checks it loads and
predicts through the evaluator's own adapter. custom_config is
`config.trainer_config(spec, ...)`. Epochs and batch size come from the spec; TrainArgs.num_steps
is not used, so leave it unset.

Under TF_CONFIG (MultiWorkerMirroredStrategy) every worker runs run_fn on the same inputs; the
chief alone logs and exports to serving_model_dir, the others save into a temporary directory
they then delete (a SavedModel save must run on every worker). `worker` runs it outside TFX.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
import tensorflow_transform as tft

from components.common import layer_summary, tracking
from components.common.architectures import NetworkInput
from components.common.errors import TandemError
from components.common.frameworks import TENSORFLOW
from components.common.input_probe import PROBE_ARTIFACT, probe_document, probe_rows
from components.common.progress import report_step
from components.common.resources import reset_peak_rss
from components.common.run_environment import describe_devices, environment_tags
from components.common.targets import LabelScale
from components.common.tracking import STEP_SECONDS, TAG_FRAMEWORK, step_run
from components.ingest.snapshot import require_manifest
from components.spec import Spec
from components.tf_trainer import architecture
from components.tf_trainer import config as cfg
from components.tf_trainer.data import read_split
from components.tf_trainer.export import check_export, export_serving_model
from components.tf_trainer.input_probe import transformed_inputs
from components.tf_trainer.model import trainable_parameter_count
from components.tf_trainer.summaries import EpochScalars
from components.tf_trainer.training import (
    EpochProgress,
    FitResult,
    MlflowEpochMetrics,
    SplitArrays,
    fit_model,
    is_chief,
    make_strategy,
)

FRAMEWORK = TENSORFLOW.name
STEP = "train"


def tensorboard_callbacks(
    model_run_dir: str | None, custom_config: dict[str, Any], run_name: str
) -> list[keras.callbacks.Callback]:
    """Epoch scalars into model_run_dir and, given tensorboard_root, <root>/tensorflow/<run_name>
    (the PyTorch side logs under <root>/pytorch/<run name>)."""
    log_dirs = [model_run_dir] if model_run_dir else []
    root = custom_config.get(cfg.TENSORBOARD_ROOT_KEY)
    if root:
        log_dirs.append(str(Path(root) / FRAMEWORK / run_name))
    return [EpochScalars(log_dir) for log_dir in log_dirs]


def training_params(spec: Spec, seed: int, mode: str, world_size: int) -> dict[str, Any]:
    """The train run's params, named as the PyTorch side names them (`parameter_count` comes
    from the built model: `log_model`)."""
    return {
        **tracking.training_params(spec.training, seed),
        "compile": mode,
        "world_size": world_size,
    }


def log_model(model: keras.Model, spec: Spec) -> None:
    """The built network's trainable parameter count and its architecture summary."""
    import mlflow

    mlflow.log_param("parameter_count", trainable_parameter_count(model))
    mlflow.log_text(architecture.summary(model, spec.training), layer_summary.ARTIFACT)


def train_and_export(
    train: SplitArrays,
    evaluation: SplitArrays | None,
    tf_transform_output: tft.TFTransformOutput,
    spec: Spec,
    custom_config: dict[str, Any],
    serving_model_dir: str | Path,
    model_run_dir: str | None = None,
    started: float | None = None,
    start_rss_mb: float | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> FitResult:
    """run_fn without FnArgs: fit on in-memory splits, log, export to serving_model_dir.

    Only the chief logs (MLflow, TensorBoard) and writes the export. started / start_rss_mb: the
    step's `time.perf_counter()` and `reset_peak_rss()` at its start (run_fn's, before it reads
    the splits), from which `step_s` and the peak RSS count; without them the step starts here.
    strategy: `make_strategy()`'s, made before the splits were read (default: made here)."""
    if started is None:
        started, start_rss_mb = time.perf_counter(), reset_peak_rss()
    label_scale = _label_scale(spec, custom_config)
    if label_scale is not None:
        train = train.standardised(label_scale)
        evaluation = evaluation.standardised(label_scale) if evaluation is not None else None
    seed = cfg.seed_from_config(custom_config, spec)
    mode = spec.training.compile.tensorflow
    strategy = strategy or make_strategy()
    chief = is_chief()
    if chief:
        report_step(STEP)
    track = chief and custom_config.get(cfg.TRACK_KEY, True)
    runs_dir = custom_config.get(cfg.RUNS_DIR_KEY) or model_run_dir or str(serving_model_dir)
    tags = {TAG_FRAMEWORK: FRAMEWORK, **(custom_config.get(cfg.TAGS_KEY) or {})}
    run_context = (
        step_run(STEP, spec.name, Path(runs_dir), tags, system_metrics=True)
        if track
        else nullcontext()
    )
    with run_context as run:
        run_name = custom_config.get(cfg.RUN_NAME_KEY) or (
            run.info.run_id if run else f"seed-{seed}"
        )
        callbacks = tensorboard_callbacks(model_run_dir, custom_config, run_name) if chief else []
        callbacks += [EpochProgress(spec.training.epochs)] if chief else []
        if track:
            import mlflow

            mlflow.log_params(training_params(spec, seed, mode, strategy.num_replicas_in_sync))
            mlflow.set_tags(environment_tags(FRAMEWORK, _accelerators()))
            callbacks.append(MlflowEpochMetrics())
        result = fit_model(
            train,
            evaluation,
            _network_input(spec, custom_config),
            spec.dataset.n_outputs,
            spec.training,
            seed,
            callbacks=callbacks,
            strategy=strategy,
            task=spec.dataset.task,
            on_built=(lambda model: log_model(model, spec)) if track else None,
        )
        if track:
            mlflow.log_metrics(result.metrics(start_rss_mb))
        # Non-chief workers save too (saving may run collectives) but into a throwaway dir.
        export_dir = serving_model_dir if chief else tempfile.mkdtemp(prefix="tandem-export-")
        export_serving_model(
            result.model, tf_transform_output, spec.dataset, export_dir, label_scale
        )
        if chief:
            check_export(export_dir, spec.dataset)
        else:
            shutil.rmtree(export_dir)
        if track:
            snapshot_dir = custom_config.get(cfg.SNAPSHOT_KEY)
            if snapshot_dir:
                _log_input_probe(tf_transform_output, Path(snapshot_dir))
            mlflow.log_metric(STEP_SECONDS, time.perf_counter() - started)
    return result


def _label_scale(spec: Spec, custom_config: dict[str, Any]) -> LabelScale | None:
    """A regression label's train statistics, from the snapshot manifest (what the PyTorch side
    standardises with); None for classification."""
    if spec.dataset.task != "regression":
        return None
    snapshot_dir = custom_config.get(cfg.SNAPSHOT_KEY)
    if not snapshot_dir:
        raise TandemError(
            f"custom_config has no '{cfg.SNAPSHOT_KEY}': a regression trainer standardises its "
            "label with the snapshot manifest's statistics; pass the snapshot directory"
        )
    return LabelScale.from_manifest(require_manifest(Path(snapshot_dir)))


def _network_input(spec: Spec, custom_config: dict[str, Any]) -> NetworkInput:
    """What the network reads: a tabular width the spec states, else the text or array input
    as the snapshot manifest describes it (a text feature's trained vocabulary size)."""
    if spec.dataset.input_kind == "tabular":
        return NetworkInput.from_spec(spec.dataset)
    snapshot_dir = custom_config.get(cfg.SNAPSHOT_KEY)
    if not snapshot_dir:
        raise TandemError(
            f"custom_config has no '{cfg.SNAPSHOT_KEY}': a {spec.dataset.input_kind} input's "
            "network is sized from the snapshot manifest; pass the snapshot directory"
        )
    return NetworkInput.from_manifest(spec.dataset, require_manifest(Path(snapshot_dir)))


def _accelerators() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    names = [
        tf.config.experimental.get_device_details(gpu).get("device_name", "GPU") for gpu in gpus
    ]
    return describe_devices(names)


def _log_input_probe(tf_transform_output: tft.TFTransformOutput, snapshot_dir: Path) -> None:
    """The fairness audit's evidence: test rows as Transform encodes them for this model."""
    import mlflow

    manifest = require_manifest(snapshot_dir)
    rows = probe_rows(snapshot_dir, manifest)
    inputs = transformed_inputs(tf_transform_output, rows)
    mlflow.log_dict(probe_document(rows, manifest, inputs), PROBE_ARTIFACT)


def run_fn(fn_args) -> FitResult:
    """TFX Trainer entry point; fn_args.custom_config = config.trainer_config(spec, ...).
    The strategy is made first: a multi-worker one must precede the reads' TensorFlow ops."""
    started, start_rss_mb = time.perf_counter(), reset_peak_rss()
    strategy = make_strategy()
    custom_config = fn_args.custom_config or {}
    spec = cfg.spec_from_config(custom_config)
    tf_transform_output = tft.TFTransformOutput(
        fn_args.transform_graph_path or fn_args.transform_output
    )
    train = read_split(fn_args.train_files, tf_transform_output, spec.dataset)
    evaluation = None
    if fn_args.eval_files:
        evaluation = read_split(fn_args.eval_files, tf_transform_output, spec.dataset)
    return train_and_export(
        train,
        evaluation,
        tf_transform_output,
        spec,
        custom_config,
        fn_args.serving_model_dir,
        fn_args.model_run_dir,
        started,
        start_rss_mb,
        strategy,
    )
