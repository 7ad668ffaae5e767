"""The bare Keras baseline: the spec's network fit on in-memory numpy arrays — the fastest plain
training loop Keras offers, with nothing of tandem's around it (no TFX, no TFXIO, no transform
graph, no MLflow or TensorBoard callbacks).

The arrays are `components.common.features.encode` of the snapshot's train / eval rows (what the
transform graph computes; a test holds the two equal), made before the clock starts. Then one
`model.fit(x, y, batch_size, epochs, shuffle=True)` with the trainer's network, optimizer,
compile mode, batch size and seed. Epochs are timed by the trainer's `StepTimer` (no per-batch
hook), so both sides' samples/s mean the same thing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from components.common.architectures import NetworkInput
from components.common.features import encode, label_indices
from components.ingest.snapshot import require_manifest
from components.spec import Spec
from components.tf_trainer.config import INPUTS
from components.tf_trainer.model import build_model, compile_model, trainable_parameter_count
from components.tf_trainer.training import FitResult, StepTimer, set_seed

RESULT_FILE = "train_bare.json"
WEIGHTS_FILE = "model.weights.h5"


def split_arrays(snapshot_dir: Path, split: str, manifest: dict) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 [rows, n_inputs], labels int64 [rows]) of one snapshot split."""
    table = pq.read_table(Path(snapshot_dir) / split)
    return encode(table, manifest), label_indices(table, manifest)


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
    x, y = split_arrays(snapshot_dir, "train", manifest)
    x_eval, y_eval = split_arrays(snapshot_dir, "eval", manifest)
    set_seed(seed)
    model = build_model(training, NetworkInput.from_spec(spec.dataset), spec.dataset.n_outputs)
    compile_model(model, training, mode, task=spec.dataset.task)
    timer = StepTimer()
    fit_start = time.perf_counter()
    history = model.fit(
        {INPUTS: x},
        y,
        batch_size=training.batch_size,
        epochs=epochs or training.epochs,
        validation_data=({INPUTS: x_eval}, y_eval),
        shuffle=True,
        callbacks=[timer],
        verbose=0,
    )
    result = FitResult(
        model=model,
        history={key: [float(v) for v in values] for key, values in history.history.items()},
        epoch_seconds=timer.epoch_seconds,
        train_examples=len(y),
        fit_s=time.perf_counter() - fit_start,
        parameter_count=trainable_parameter_count(model),
        replicas=1,
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
    model.save_weights(out_dir / WEIGHTS_FILE)
    (out_dir / RESULT_FILE).write_text(json.dumps(report, indent=2))
    return report
