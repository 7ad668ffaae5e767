"""The Keras MLP both frameworks build from the spec, its optimizer and its compile mode.

Same architecture as the PyTorch side: Dense + ReLU per hidden size, then a Dense layer to the
classes (softmax here, inside the model; torch applies it in the loss). Parameter counts match
exactly: weights + biases per layer.
"""

from __future__ import annotations

import itertools

import keras

from components.spec import TrainingSpec
from components.tf_trainer.config import INPUTS

COMPILE_MODES = ("eager", "graph", "xla")


def parameter_count(hidden_sizes: list[int], n_inputs: int, n_classes: int) -> int:
    """Weights + biases of the MLP: sum over layers of (fan_in * fan_out + fan_out)."""
    widths = [n_inputs, *hidden_sizes, n_classes]
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(widths))


def build_model(n_inputs: int, n_classes: int, hidden_sizes: list[int]) -> keras.Model:
    """{"inputs": float32 [batch, n_inputs]} → class probabilities [batch, n_classes].

    The input is a one-key dict, the structure the transformed datasets yield.
    """
    inputs = keras.Input(shape=(n_inputs,), dtype="float32", name=INPUTS)
    x = inputs
    for index, width in enumerate(hidden_sizes):
        x = keras.layers.Dense(width, activation="relu", name=f"hidden_{index}")(x)
    probabilities = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model({INPUTS: inputs}, probabilities, name="mlp")


def make_optimizer(training: TrainingSpec) -> keras.optimizers.Optimizer:
    """Adam with the spec's epsilon (Keras defaults to 1e-7, torch to 1e-8), or plain SGD."""
    if training.optimizer == "adam":
        return keras.optimizers.Adam(training.learning_rate, epsilon=training.adam_epsilon)
    return keras.optimizers.SGD(training.learning_rate)


def compile_model(model: keras.Model, training: TrainingSpec, mode: str | None = None) -> None:
    """Compile for `mode` (default: the spec's compile.tensorflow).

    eager → run_eagerly; graph → tf.function without XLA; xla → jit_compile=True. jit_compile is
    always set: Keras's "auto" turns XLA off on CPU-only machines.
    """
    mode = mode or training.compile.tensorflow
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}: expected one of {list(COMPILE_MODES)}")
    model.compile(
        optimizer=make_optimizer(training),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        run_eagerly=mode == "eager",
        jit_compile=mode == "xla",
    )
