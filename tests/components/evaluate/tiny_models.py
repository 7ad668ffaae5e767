"""Tiny real models in the exported-model contract (components.export), for tests.

A few optimizer steps on a snapshot's train split, then the same export recipe the trainers use.
Each function imports its framework when called.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from components.common.features import encode, label_indices
from components.export import (
    OUTPUT,
    SIGNATURE,
    serving_inputs,
)

LEARNING_RATE = 0.01
BATCH_SIZE = 32
ADAM_EPSILON = 1e-7


def train_tiny_keras(
    snapshot_dir: Path,
    manifest: dict,
    out_dir: Path,
    hidden: tuple[int, ...] = (8,),
    steps: int = 30,
    seed: int = 0,
) -> Path:
    """Train a Keras MLP with its preprocessing inside; write a SavedModel to out_dir."""
    import keras
    import tensorflow as tf

    statistics = manifest["statistics"]
    dtypes = {"float32": tf.float32, "string": tf.string}
    inputs_spec = {name: dtypes[kind] for name, kind in serving_inputs(manifest).items()}

    class Encode(keras.layers.Layer):
        """encode() in graph ops: z-score (NaN → mean), one-hot ("" / unseen → zeros)."""

        def call(self, features):
            blocks = []
            for name, info in statistics["numeric"].items():
                values = features[name]
                values = tf.where(
                    tf.math.is_nan(values), tf.constant(info["mean"], tf.float32), values
                )
                blocks.append(((values - info["mean"]) / (info["std"] or 1.0))[:, None])
            for name, info in statistics["categorical"].items():
                vocabulary = tf.constant(info["vocabulary"], tf.string)
                hits = tf.equal(features[name][:, None], vocabulary[None, :])
                blocks.append(tf.cast(hits, tf.float32))
            return tf.concat(blocks, axis=1)

    keras.utils.set_random_seed(seed)
    inputs = {
        name: keras.Input(shape=(), dtype=dtype.name, name=name)
        for name, dtype in inputs_spec.items()
    }
    x = Encode()(inputs)
    for width in hidden:
        x = keras.layers.Dense(width, activation="relu")(x)
    probabilities = keras.layers.Dense(len(manifest["classes"]), activation="softmax")(x)
    model = keras.Model(inputs, probabilities)
    model.compile(
        optimizer=keras.optimizers.Adam(LEARNING_RATE, epsilon=ADAM_EPSILON),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,  # string ops do not compile with XLA
    )

    train = pq.read_table(Path(snapshot_dir) / "train")
    features = {
        name: np.asarray(train.column(name).to_pylist(), np.float32)
        if dtype == tf.float32
        else np.asarray(train.column(name).to_pylist(), object)
        for name, dtype in inputs_spec.items()
    }
    dataset = (
        tf.data.Dataset.from_tensor_slices((features, label_indices(train, manifest)))
        .shuffle(train.num_rows, seed=seed)
        .repeat()
        .batch(BATCH_SIZE)
    )
    model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)

    signature = {
        name: tf.TensorSpec([None], dtype, name=name) for name, dtype in inputs_spec.items()
    }

    class Serving(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[signature])
        def serve(self, features):
            return {OUTPUT: self.model(features, training=False)}

    serving = Serving(model)
    out_dir = Path(out_dir)
    tf.saved_model.save(serving, str(out_dir), signatures={SIGNATURE: serving.serve})
    return out_dir


def train_tiny_torch(
    snapshot_dir: Path,
    manifest: dict,
    out_dir: Path,
    hidden: tuple[int, ...] = (8,),
    steps: int = 30,
    seed: int = 0,
) -> Path:
    """Train a torch MLP on encode(...); write model.pt2, model.torchscript.pt, encoding.json."""
    import torch

    from components.common.architectures import NetworkInput
    from components.torch_trainer.export import export_model

    train = pq.read_table(Path(snapshot_dir) / "train")
    x = torch.from_numpy(encode(train, manifest))
    y = torch.from_numpy(label_indices(train, manifest))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[torch.nn.Module] = []
        width = x.shape[1]
        for size in hidden:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            width = size
        mlp = torch.nn.Sequential(*layers, torch.nn.Linear(width, len(manifest["classes"])))
        optimizer = torch.optim.Adam(mlp.parameters(), lr=LEARNING_RATE, eps=ADAM_EPSILON)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            batch = torch.randint(0, len(x), (BATCH_SIZE,), generator=generator)
            loss = torch.nn.functional.cross_entropy(mlp(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    model = torch.nn.Sequential(mlp, torch.nn.Softmax(dim=1)).eval()
    return export_model(model, NetworkInput.tabular(x.shape[1]), manifest, out_dir, snapshot_dir)
