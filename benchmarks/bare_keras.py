"""The same training without TFX: snapshot Parquet → encode → the same Keras fit, for benchmarks.

Inputs are `components.common.features.encode` of the snapshot rows with the manifest's train
statistics — what the tf.Transform graph computes (a test holds the two equal) and what the
PyTorch trainer feeds its model — so the two frameworks' timings compare the training alone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import tensorflow as tf

from components.common.features import encode, label_indices
from components.ingest.snapshot import require_manifest
from components.spec import Spec
from components.tf_trainer.config import INPUTS, n_inputs
from components.tf_trainer.training import FitResult, fit_model, set_seed

RESULT_FILE = "train_bare.json"
WEIGHTS_FILE = "model.weights.h5"


def split_dataset(
    snapshot_dir: Path, split: str, manifest: dict, batch_size: int, seed: int | None
) -> tf.data.Dataset:
    """Batched ({"inputs": x}, label) of one snapshot split; shuffled each epoch when seeded."""
    table = pq.read_table(Path(snapshot_dir) / split)
    dataset = tf.data.Dataset.from_tensor_slices(
        ({INPUTS: encode(table, manifest)}, label_indices(table, manifest))
    )
    if seed is not None:
        dataset = dataset.shuffle(table.num_rows, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def train_bare(
    snapshot_dir: str | Path,
    spec: Spec,
    out_dir: str | Path,
    seed: int | None = None,
    mode: str | None = None,
    epochs: int | None = None,
) -> dict:
    """Fit the spec's model on a snapshot's train split (eval split for validation).

    seed / mode / epochs default to the spec's first seed, compile.tensorflow and epochs.
    Writes train_bare.json (the returned dict) and the weights to out_dir. The dict holds
    wall_s (data loading included), fit_s, samples_per_s (first epoch excluded when there
    are more), epoch_seconds, history, final_<metric> (last epoch's loss, accuracy, val_*) and
    the run-level metrics of `FitResult.metrics`.
    """
    start = time.perf_counter()
    snapshot_dir, out_dir = Path(snapshot_dir), Path(out_dir)
    manifest = require_manifest(snapshot_dir)
    training = spec.training
    seed = training.seed_or_default(seed)
    set_seed(seed)  # before the datasets: their shuffle seeds combine with the global seed
    train = split_dataset(snapshot_dir, "train", manifest, training.batch_size, seed)
    evaluation = split_dataset(snapshot_dir, "eval", manifest, training.batch_size, None)
    result: FitResult = fit_model(
        train,
        evaluation,
        n_inputs(spec.dataset),
        len(spec.dataset.classes),
        training,
        seed,
        mode=mode,
        epochs=epochs,
    )
    report = {
        "wall_s": time.perf_counter() - start,
        "samples_per_s": result.samples_per_s,
        "seed": seed,
        "compile": mode or training.compile.tensorflow,
        "epochs": len(result.epoch_seconds),
        "epoch_seconds": result.epoch_seconds,
        "parameter_count": result.parameter_count,
        "history": result.history,
        **result.metrics(),
        **{f"final_{key}": values[-1] for key, values in result.history.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    result.model.save_weights(out_dir / WEIGHTS_FILE)
    (out_dir / RESULT_FILE).write_text(json.dumps(report, indent=2))
    return report
