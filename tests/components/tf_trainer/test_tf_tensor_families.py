"""The Keras cnn and transformer: their input, parameter count, initialisation as
`components.common.architectures` states it, the padding mask, and a Keras-format round trip."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from components.common.architectures import parameter_count
from components.common.text_tokens import PAD_ID
from components.tf_trainer.model import TokenEmbedding, build_model, trainable_parameter_count
from tests.components.model_families import (
    CNN_SMALL,
    IMAGE,
    SERIES,
    TENSOR_SIZE_IDS,
    TENSOR_SIZES,
    TEXT,
    TRANSFORMER_SMALL,
    assert_uniform_within,
    glorot_limit,
    random_batch,
    token_ids,
    training_spec,
)


def small_transformer() -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_model(training_spec(TRANSFORMER_SMALL), TEXT, 2)


def outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model({"inputs": x}, training=False))


@pytest.mark.parametrize(("model", "network_input", "n_outputs"), TENSOR_SIZES, ids=TENSOR_SIZE_IDS)
def test_each_reads_its_input_and_gives_raw_outputs_of_the_stated_count(
    model, network_input, n_outputs
):
    training = training_spec(model)
    built = build_model(training, network_input, n_outputs)
    assert built.name == model["family"]
    (inputs,) = built.inputs
    assert tuple(inputs.shape) == (None, *network_input.row_shape)
    assert inputs.dtype == network_input.dtype
    assert trainable_parameter_count(built) == parameter_count(training, network_input, n_outputs)
    assert not built.non_trainable_weights
    logits = outputs(built, random_batch(network_input, rows=5))
    assert logits.shape == (5, n_outputs)
    assert np.isfinite(logits).all()
    assert built.layers[-1].activation is keras.activations.linear


@pytest.mark.parametrize(
    ("network_input", "convolution"),
    [(IMAGE, keras.layers.Conv2D), (SERIES, keras.layers.Conv1D)],
    ids=["image", "series"],
)
def test_convolution_kernels_are_glorot_uniform_over_their_receptive_field(
    network_input, convolution
):
    keras.utils.set_random_seed(0)
    model = build_model(training_spec(CNN_SMALL), network_input, 10)
    layers = [layer for layer in model.layers if layer.name.startswith("conv_")]
    assert [type(layer) for layer in layers] == [convolution, convolution]
    for layer in layers:
        *window, c_in, c_out = layer.kernel.shape
        assert window == [3] * (len(network_input.row_shape) - 1)
        receptive_field = math.prod(window)
        limit = glorot_limit(receptive_field * c_in, receptive_field * c_out)
        assert_uniform_within(layer.kernel.numpy(), limit)
        assert not layer.bias.numpy().any()


@pytest.mark.parametrize(
    ("model", "network_input"), [(CNN_SMALL, IMAGE), (TRANSFORMER_SMALL, TEXT)]
)
def test_dense_layers_and_attention_follow_the_shared_contract(model, network_input):
    keras.utils.set_random_seed(0)
    built = build_model(training_spec(model), network_input, 3)
    dense = [layer for layer in built.layers if type(layer) is keras.layers.Dense]
    assert len(dense) == (2 if model is CNN_SMALL else 3)
    for layer in dense:
        assert_uniform_within(layer.kernel.numpy(), glorot_limit(*layer.kernel.shape))
        assert not layer.bias.numpy().any()
    for layer in built.layers:
        if isinstance(layer, keras.layers.MultiHeadAttention):
            for weight in layer.weights:
                if "kernel" in weight.path:
                    assert_uniform_within(weight.numpy(), glorot_limit(8, 8))
                else:
                    assert not weight.numpy().any()


def test_token_and_position_embeddings_are_uniform_in_one_over_root_d_model():
    embedding = small_transformer().get_layer("embedding")
    assert isinstance(embedding, TokenEmbedding)
    assert [tuple(w.shape) for w in embedding.weights] == [(40, 8), (12, 8)]
    for weight in embedding.weights:
        assert_uniform_within(weight.numpy(), 1 / math.sqrt(8))


def test_padding_takes_no_attention():
    """Whatever the [PAD] embedding holds, the outputs stay: no [PAD] key reaches [CLS] (without
    the mask its value would). A token the rows do hold changes them: the test can see one."""
    model = small_transformer()
    ids = token_ids(TEXT, rows=6)
    assert (ids == PAD_ID).any(axis=1)[[0, 2, 3, 4, 5]].all()
    before = outputs(model, ids)
    token = model.get_layer("embedding").token
    table = token.numpy()
    changed = table.copy()
    changed[PAD_ID] = np.random.default_rng(1).uniform(-3, 3, table.shape[1])
    token.assign(changed)
    np.testing.assert_allclose(outputs(model, ids), before, atol=1e-6)
    changed[ids[1, 1]] = np.random.default_rng(2).uniform(-3, 3, table.shape[1])  # row 1 is full
    token.assign(changed)
    assert not np.allclose(outputs(model, ids)[1], before[1], atol=1e-3)


@pytest.mark.parametrize(
    ("model", "network_input"), [(CNN_SMALL, SERIES), (TRANSFORMER_SMALL, TEXT)]
)
def test_each_round_trips_through_the_keras_format(model, network_input, tmp_path):
    built = build_model(training_spec(model), network_input, 3)
    built.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    x = random_batch(network_input, rows=3, seed=1)
    np.testing.assert_allclose(outputs(loaded, x), outputs(built, x), atol=1e-6)
