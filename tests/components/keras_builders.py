"""Keras builders for the custom-pair tests: one that keeps the contract, and one per way of
breaking it (`components.common.custom_models`)."""

from __future__ import annotations

import keras

NOT_CALLABLE = 42


def two_layers(n_inputs: int, n_outputs: int, width: int = 8) -> keras.Model:
    inputs = keras.Input(shape=(n_inputs,))
    hidden = keras.layers.Dense(width, activation="gelu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_outputs, name="logits")(hidden), name="pair")


def one_output_too_many(n_inputs: int, n_outputs: int) -> keras.Model:
    return two_layers(n_inputs, n_outputs + 1)


def frozen(n_inputs: int, n_outputs: int) -> keras.Model:
    model = two_layers(n_inputs, n_outputs)
    model.trainable = False
    return model


def a_layer(n_inputs: int, n_outputs: int) -> keras.layers.Layer:
    return keras.layers.Dense(n_outputs)


def needs_width(n_inputs: int, n_outputs: int, width: int) -> keras.Model:
    if width % 2:
        raise ValueError(f"width must be even, got {width}\nsecond line")
    return two_layers(n_inputs, n_outputs, width)


def wrong_input_width(n_inputs: int, n_outputs: int) -> keras.Model:
    return two_layers(n_inputs + 1, n_outputs)


def image_pair(n_inputs: int, n_outputs: int, input_shape: tuple, width: int = 8) -> keras.Model:
    """For an array input [batch, *input_shape]: flattened, then two layers."""
    inputs = keras.Input(shape=input_shape)
    flat = keras.layers.Flatten()(inputs)
    assert flat.shape[-1] == n_inputs
    hidden = keras.layers.Dense(width, activation="gelu")(flat)
    return keras.Model(inputs, keras.layers.Dense(n_outputs)(hidden), name="pair")


def text_pair(
    n_inputs: int, n_outputs: int, vocabulary_size: int, max_length: int, width: int = 8
) -> keras.Model:
    """For token ids [batch, max_length]: the mean of their embeddings, then a dense layer."""
    assert n_inputs == max_length
    inputs = keras.Input(shape=(max_length,), dtype="int64")
    embedded = keras.layers.Embedding(vocabulary_size, width)(inputs)
    pooled = keras.layers.GlobalAveragePooling1D()(embedded)
    return keras.Model(inputs, keras.layers.Dense(n_outputs)(pooled), name="pair")
