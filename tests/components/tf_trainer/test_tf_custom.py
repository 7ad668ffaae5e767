"""A custom pair's Keras side: the user's model is checked before anything trains, takes the
trainer's {"inputs": ...} batch, trains, exports and serves like a built-in family."""

from __future__ import annotations

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow_transform as tft

from benchmarks.bare_keras import split_arrays
from components.common.architectures import NetworkInput
from components.common.errors import TandemError
from components.export import load_predictor
from components.spec import TrainingSpec
from components.tf_trainer.architecture import summary
from components.tf_trainer.export import check_export, export_serving_model
from components.tf_trainer.model import build_model, trainable_parameter_count
from components.tf_trainer.training import fit_model
from tests.components.model_families import PENGUINS_INPUT, TEXT, random_batch

BUILDERS = "tests.components.keras_builders"


def custom(builder: str, **params) -> TrainingSpec:
    return TrainingSpec(
        model={
            "family": "custom",
            "tensorflow": f"{BUILDERS}:{builder}",
            "pytorch": "tests.components.torch_builders:two_layers",
            "params": params,
        },
        epochs=2,
    )


def test_the_users_model_takes_the_trainers_input_and_gives_logits():
    training = custom("two_layers", width=6)
    model = build_model(training, PENGUINS_INPUT, 3)
    assert model.name == "custom"
    assert trainable_parameter_count(model) == (9 * 6 + 6) + (6 * 3 + 3)
    x = np.random.default_rng(0).normal(size=(5, 9)).astype("float32")
    logits = keras.ops.convert_to_numpy(model({"inputs": x}, training=False))
    assert logits.shape == (5, 3)
    inner = model.get_layer("pair")
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(inner(x)), atol=1e-6)
    table = summary(model, training)
    assert "trainable parameters: 81" in table
    assert "pair/hidden" in table and "pair/logits" in table


@pytest.mark.parametrize(
    ("builder", "network_input", "count"),
    [
        ("image_pair", NetworkInput.array([6, 5, 2]), (60 * 6 + 6) + (6 * 3 + 3)),
        ("text_pair", TEXT, 40 * 6 + (6 * 3 + 3)),
    ],
)
def test_an_array_or_text_builder_gets_its_input_described(builder, network_input, count):
    """image_pair needs input_shape, text_pair vocabulary_size and max_length: both are passed,
    and the model takes the input's batch (float32 [batch, *shape] / int64 token ids)."""
    model = build_model(custom(builder, width=6), network_input, 3)
    assert trainable_parameter_count(model) == count
    logits = model({"inputs": random_batch(network_input, rows=5)}, training=False)
    assert tuple(logits.shape) == (5, 3)


def test_a_tabular_builder_given_an_array_names_the_keyword_it_refused():
    with pytest.raises(TandemError) as raised:
        build_model(custom("two_layers", width=6), NetworkInput.array([24, 1]), 3)
    assert str(raised.value) == (
        f"training.model.tensorflow: {BUILDERS}:two_layers: build(24, 3, input_shape=(24, 1), "
        "width=6) raised TypeError: two_layers() got an unexpected keyword argument 'input_shape'"
    )


@pytest.mark.parametrize(
    ("builder", "params", "problem"),
    [
        ("a_layer", {}, "returned a Dense, expected a keras.Model"),
        (
            "one_output_too_many",
            {},
            "the network maps a probe batch of shape (4, 9) to shape (4, 4), expected (4, 3)",
        ),
        ("wrong_input_width", {}, "the network fails on a probe batch: ValueError: "),
        ("frozen", {}, "the network has no trainable parameters"),
        ("needs_width", {"width": 3}, "build(9, 3, width=3) raised ValueError: width must be"),
        ("NOT_CALLABLE", {}, "'NOT_CALLABLE' is not callable (type int)"),
    ],
)
def test_a_bad_builder_fails_the_build_with_one_line(builder, params, problem):
    with pytest.raises(TandemError) as raised:
        build_model(custom(builder, **params), PENGUINS_INPUT, 3)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"training.model.tensorflow: {BUILDERS}:{builder}: {problem}")


def test_a_bad_builder_stops_the_fit_before_it_builds_anything_to_train(encoded_train):
    built = []
    with pytest.raises(TandemError, match="to shape \\(4, 4\\)"):
        fit_model(
            encoded_train,
            None,
            PENGUINS_INPUT,
            3,
            custom("one_output_too_many"),
            seed=0,
            task="classification",
            on_built=built.append,
        )
    assert built == []


def test_the_users_model_trains_exports_and_serves(
    penguins_spec, penguins_snapshot, transform_run, encoded_train, tmp_path
):
    training = custom("two_layers", width=6)
    built = []
    result = fit_model(
        encoded_train,
        None,
        PENGUINS_INPUT,
        3,
        training,
        seed=0,
        task="classification",
        on_built=built.append,
    )
    assert built == [result.model]
    assert result.parameter_count == 81
    assert len(result.history["loss"]) == 2
    output = tft.TFTransformOutput(str(transform_run.transform_dir))
    exported = export_serving_model(result.model, output, penguins_spec.dataset, tmp_path / "model")
    check_export(exported, penguins_spec.dataset)
    test = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    inputs, _ = split_arrays(penguins_snapshot.snapshot_dir, "test", penguins_snapshot.manifest)
    served = load_predictor(exported, "tensorflow").predict(test)
    expected = keras.ops.softmax(result.model({"inputs": inputs}), axis=-1)
    np.testing.assert_allclose(served, keras.ops.convert_to_numpy(expected), atol=1e-5)
