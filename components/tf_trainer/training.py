"""The fit both training paths share: seed, distribution strategy, callbacks, timing.

`fit_model` builds and compiles the spec's network inside the strategy's scope and fits it on
in-memory arrays (`SplitArrays`: float32 inputs [rows, n], int64 labels [rows]) with one Keras
`fit` call — the call a bare Keras loop makes (`benchmarks.bare_keras`), so the trainer pays only
for what it adds around it (its epoch-level callbacks).

Throughput is measured from each epoch's start to the end of its last training step (validation
excluded); `samples_per_s` leaves out the first epoch, which pays for tracing / XLA compilation,
unless there is only one epoch.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from components.common.architectures import NetworkInput
from components.common.progress import report_epoch
from components.common.resources import peak_rss_mb
from components.common.targets import LabelScale
from components.common.tracking import rss_metrics
from components.spec import Task, TrainingSpec
from components.tf_trainer.config import INPUTS
from components.tf_trainer.model import build_model, compile_model, trainable_parameter_count
from components.tf_trainer.multi_worker import allow_multi_worker_fit, is_multi_worker


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (weight init and any shuffle without its own seed)."""
    keras.utils.set_random_seed(seed)


def make_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster; MirroredStrategy when this
    machine has several GPUs to mirror over; else the default (no-op) strategy.

    Call it before any other TensorFlow op: MultiWorkerMirroredStrategy configures the process's
    collective ops, which TensorFlow refuses once its eager context exists ("Collective ops must
    be configured at program startup").

    With a single device MirroredStrategy mirrors nothing but still costs its per-step
    machinery: on penguins (2 CPUs) it cut graph-mode throughput ~3.6x (median 2.4k vs 8.7k
    samples/s, 3 interleaved runs each) — a cost that would be charged to TensorFlow.
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """True unless TF_CONFIG names this process a non-chief worker (only the chief logs)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type in (None, "chief"):
        return True
    return task_type == "worker" and index == 0 and "chief" not in config.get("cluster", {})


class StepTimer(keras.callbacks.Callback):
    """Seconds from each epoch's start to the end of its last training step: to the start of
    the epoch's validation, else to the epoch's end.

    No per-batch hook: a callback with one makes Keras convert every step's logs to Python
    synchronously (it turns off Keras's asynchronous batch-callback dispatch), a per-step cost a
    plain `fit` does not pay.
    """

    def __init__(self):
        super().__init__()
        self.epoch_seconds: list[float] = []
        self._start = 0.0
        self._train_end: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._train_end = time.perf_counter(), None

    def on_test_begin(self, logs=None):
        if self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = self._train_end if self._train_end is not None else time.perf_counter()
        self.epoch_seconds.append(end - self._start)


class EpochProgress(keras.callbacks.Callback):
    """Reports each finished epoch to the `tandem run` progress display."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        report_epoch(epoch, self.epochs)


EPOCH_METRIC_NAMES = {"loss": "train_loss", "accuracy": "train_accuracy", "rmse": "train_rmse"}


class MlflowEpochMetrics(keras.callbacks.Callback):
    """Logs each epoch's train_loss / train_accuracy (or train_rmse) / val_loss / val_accuracy
    (val_rmse) to the active MLflow run: the PyTorch side's names (Keras calls the training
    figures loss, accuracy, rmse)."""

    def on_epoch_end(self, epoch, logs=None):
        import mlflow

        metrics = {
            EPOCH_METRIC_NAMES.get(key, key): float(value) for key, value in (logs or {}).items()
        }
        mlflow.log_metrics(metrics, step=epoch)


@dataclass(frozen=True)
class SplitArrays:
    """One split in memory, as the model takes it: inputs float32 [rows, n_inputs], labels
    int64 [rows] (class indices) or float32 [rows, 1] (regression targets, standardised)."""

    inputs: np.ndarray
    labels: np.ndarray

    def standardised(self, scale: LabelScale) -> SplitArrays:
        """The split with regression labels as the network learns them (the read labels are in
        the label's units)."""
        targets = scale.standardise(self.labels).reshape(-1, 1).astype(np.float32)
        return SplitArrays(inputs=self.inputs, labels=targets)

    def as_fit_data(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(x, y) for Keras: the model's input is a one-key dict."""
        return {INPUTS: self.inputs}, self.labels


@dataclass
class FitResult:
    model: keras.Model
    history: dict[str, list[float]]
    epoch_seconds: list[float]
    train_examples: int
    fit_s: float
    parameter_count: int
    replicas: int

    @property
    def samples_per_s(self) -> float:
        timed = self.epoch_seconds[1:] or self.epoch_seconds
        return self.train_examples * len(timed) / sum(timed)

    def metrics(self, start_rss_mb: float | None = None) -> dict[str, float]:
        """Run-level figures for MLflow and the benchmark (names as the PyTorch side's); the peak
        RSS is this process's so far, logged beside start_rss_mb (the RSS when its window started,
        `resources.reset_peak_rss`) when given."""
        return {
            "samples_per_s": self.samples_per_s,
            "first_epoch_s": self.epoch_seconds[0],
            "fit_s": self.fit_s,
            "train_examples": float(self.train_examples),
            **rss_metrics(peak_rss_mb(), start_rss_mb),
        }


def fit_model(
    train: SplitArrays,
    evaluation: SplitArrays | None,
    network_input: NetworkInput,
    n_outputs: int,
    training: TrainingSpec,
    seed: int,
    mode: str | None = None,
    epochs: int | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    *,
    task: Task,
    on_built: Callable[[keras.Model], None] | None = None,
) -> FitResult:
    """Seed, build and compile under the strategy, then one Keras `fit` on the arrays for
    `epochs` (default: the spec's), at the spec's batch size, reshuffled each epoch.
    `on_built(model)` runs between the build and the fit (the trainer logs the model there).

    Under a multi-worker strategy every worker calls this with the same arrays and seed: the
    batch size is global (each of N workers computes 1/N of every batch: Keras shards in-memory
    arrays by DATA, so the workers' shuffles must agree — the seed sees to it), and the epoch
    logs are averaged across workers (`multi_worker`)."""
    set_seed(seed)
    strategy = strategy or make_strategy()
    if is_multi_worker(strategy):
        allow_multi_worker_fit()
    with strategy.scope():
        model = build_model(training, network_input, n_outputs)
        compile_model(model, training, mode, task=task)
    if on_built is not None:
        on_built(model)
    timer = StepTimer()
    x, y = train.as_fit_data()
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=training.batch_size,
        epochs=epochs or training.epochs,
        validation_data=evaluation.as_fit_data() if evaluation is not None else None,
        shuffle=True,
        callbacks=[timer, *(callbacks or [])],
        verbose=0,
    )
    fit_s = time.perf_counter() - start
    return FitResult(
        model=model,
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epoch_seconds=timer.epoch_seconds,
        train_examples=len(y),
        fit_s=fit_s,
        parameter_count=trainable_parameter_count(model),
        replicas=strategy.num_replicas_in_sync,
    )
