"""The gated MLP in Keras: `build(n_inputs, n_outputs, width=32, dropout=0.0)`."""

from __future__ import annotations

import keras


def build(n_inputs: int, n_outputs: int, width: int = 32, dropout: float = 0.0) -> keras.Model:
    """float32 (batch, n_inputs) → logits (batch, n_outputs). Dense's defaults are the
    Glorot-uniform kernels and zero biases the torch builder sets; "gelu" is the exact GELU."""
    inputs = keras.Input(shape=(n_inputs,), dtype="float32")
    gate = keras.layers.Dense(width, activation="gelu", name="gate")(inputs)
    value = keras.layers.Dense(width, name="value")(inputs)
    hidden = keras.layers.Multiply(name="gated")([gate, value])
    hidden = keras.layers.Dropout(dropout, name="dropout")(hidden)
    logits = keras.layers.Dense(n_outputs, name="logits")(hidden)
    return keras.Model(inputs, logits, name="gated_mlp")
