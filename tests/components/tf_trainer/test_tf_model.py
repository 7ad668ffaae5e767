"""The Keras networks of each family: parameter count and initialisation as
`components.common.architectures` states them, output, export; optimizer, compile modes."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from benchmarks.bare_keras import split_arrays
from components.common.architectures import LAYER_NORM_EPSILON, NetworkInput, parameter_count
from components.export import load_predictor
from components.tf_trainer import training
from components.tf_trainer.export import check_export, export_serving_model
from components.tf_trainer.model import (
    FeatureTokenizer,
    build_model,
    compile_model,
    make_optimizer,
    trainable_parameter_count,
)
from components.tf_trainer.training import StepTimer, fit_model, is_chief, make_strategy
from tests.components.model_families import (
    PENGUINS_INPUT,
    SIZE_IDS,
    SIZES,
    SMALL,
    assert_uniform_within,
    glorot_limit,
    training_spec,
)


def small_model(family: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_model(training_spec(SMALL[family]), PENGUINS_INPUT, 3)


def test_the_penguins_mlp_has_the_torch_formula_count(penguins_spec):
    training = penguins_spec.training
    width, classes = penguins_spec.dataset.n_inputs, len(penguins_spec.dataset.classes)
    assert (width, training.hidden_sizes, classes) == (9, [16, 8], 3)
    torch_style = (9 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3)
    model = build_model(training, NetworkInput.tabular(width), classes)
    count = parameter_count(training, PENGUINS_INPUT, 3)
    assert trainable_parameter_count(model) == count == torch_style


@pytest.mark.parametrize(("family", "hidden_sizes", "width", "classes"), SIZES, ids=SIZE_IDS)
def test_each_family_has_the_stated_parameter_count_and_gives_logits(
    family, hidden_sizes, width, classes
):
    training = training_spec(family, hidden_sizes)
    network_input = NetworkInput.tabular(width)
    model = build_model(training, network_input, classes)
    assert model.name == family["family"]
    assert trainable_parameter_count(model) == parameter_count(training, network_input, classes)
    assert not model.non_trainable_weights
    x = np.random.default_rng(0).normal(size=(7, width)).astype("float32")
    logits = model({"inputs": x}, training=False).numpy()
    assert logits.shape == (7, classes)
    assert np.isfinite(logits).all()
    assert model.layers[-1].activation is keras.activations.linear


@pytest.mark.parametrize("family", list(SMALL))
def test_dense_layers_are_glorot_uniform_with_zero_biases(family):
    dense = [layer for layer in small_model(family).layers if type(layer) is keras.layers.Dense]
    assert dense
    for layer in dense:
        fan_in, fan_out = layer.kernel.shape
        assert_uniform_within(layer.kernel.numpy(), glorot_limit(fan_in, fan_out))
        assert not layer.bias.numpy().any()


@pytest.mark.parametrize("family", ["resnet", "ft_transformer"])
def test_layer_norms_start_at_scale_one_offset_zero_epsilon_1e5(family):
    norms = [
        layer
        for layer in small_model(family).layers
        if isinstance(layer, keras.layers.LayerNormalization)
    ]
    assert len(norms) == (2 if family == "resnet" else 3)
    for layer in norms:
        assert layer.epsilon == LAYER_NORM_EPSILON == 1e-5
        assert (layer.gamma.numpy() == 1).all()
        assert not layer.beta.numpy().any()


def test_attention_projections_are_each_glorot_uniform_over_their_d_by_d_matrix():
    """Limit sqrt(6/16) ~ 0.61 and draws reaching past 0.75 of it: fans taken from the query
    kernel's 3-D shape (8, 2, 4), as older Keras did, would cap them at sqrt(6/48) ~ 0.35."""
    attention = small_model("ft_transformer").get_layer("block_0_attention")
    kernels = {w.path.split("/")[-2]: w.numpy() for w in attention.weights if "kernel" in w.path}
    biases = [w.numpy() for w in attention.weights if "bias" in w.path]
    assert set(kernels) == {"query", "key", "value", "attention_output"}
    for kernel in kernels.values():
        assert kernel.size == 8 * 8
        assert_uniform_within(kernel, glorot_limit(8, 8), spread=0.75)
    assert len({kernel.tobytes() for kernel in kernels.values()}) == 4
    assert len(biases) == 4
    assert not any(bias.any() for bias in biases)


def test_the_tokenizer_and_cls_token_are_uniform_in_one_over_root_d_token():
    tokenizer = small_model("ft_transformer").get_layer("tokenizer")
    assert isinstance(tokenizer, FeatureTokenizer)
    assert [tuple(w.shape) for w in tokenizer.weights] == [(9, 8), (9, 8), (8,)]
    values = np.concatenate([w.numpy().ravel() for w in tokenizer.weights])
    assert_uniform_within(values, 1 / math.sqrt(8))


def test_the_cls_token_is_appended_last_and_the_head_reads_it():
    model = small_model("ft_transformer")
    tokenizer = model.get_layer("tokenizer")
    x = np.arange(18, dtype="float32").reshape(2, 9)
    tokens = tokenizer(x).numpy()
    assert tokens.shape == (2, 10, 8)
    weight, bias, cls = (w.numpy() for w in tokenizer.weights)
    np.testing.assert_allclose(tokens[:, :9], x[:, :, None] * weight + bias, rtol=1e-6)
    np.testing.assert_allclose(tokens[:, 9], np.broadcast_to(cls, (2, 8)))
    last_block = model.get_layer("block_0_ffn_residual").output
    probe = keras.Model(model.inputs, [last_block, model.get_layer("head_norm").input])
    stream, head_input = (value.numpy() for value in probe({"inputs": x}))
    np.testing.assert_array_equal(head_input, stream[:, -1])


def test_an_ft_transformer_round_trips_through_the_keras_format(tmp_path):
    model = small_model("ft_transformer")
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.get_layer("tokenizer"), FeatureTokenizer)
    x = np.random.default_rng(1).normal(size=(3, 9)).astype("float32")
    np.testing.assert_allclose(loaded({"inputs": x}), model({"inputs": x}), atol=1e-6)


def test_the_fit_hands_the_built_model_over_before_it_trains(encoded_train):
    """The trainer logs the parameter count and the architecture of the model `on_built` gets."""
    training = training_spec(SMALL["resnet"]).model_copy(update={"epochs": 1})
    built = []

    def on_built(model: keras.Model) -> None:
        built.append((model, [w.numpy().copy() for w in model.trainable_weights]))

    result = fit_model(
        encoded_train,
        None,
        PENGUINS_INPUT,
        3,
        training,
        seed=0,
        task="classification",
        on_built=on_built,
    )
    (model, weights_before_fit), *_ = built
    assert model is result.model and len(built) == 1
    assert not np.allclose(weights_before_fit[0], result.model.trainable_weights[0].numpy())
    assert result.parameter_count == trainable_parameter_count(model)
    assert result.parameter_count == parameter_count(training, PENGUINS_INPUT, 3)


def test_an_ft_transformer_exports_and_serves_its_own_probabilities(
    penguins_spec, penguins_snapshot, transform_run, tmp_path
):
    model = small_model("ft_transformer")
    output = tft.TFTransformOutput(str(transform_run.transform_dir))
    exported = export_serving_model(model, output, penguins_spec.dataset, tmp_path / "model")
    check_export(exported, penguins_spec.dataset)
    test = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    inputs, _ = split_arrays(penguins_snapshot.snapshot_dir, "test", penguins_snapshot.manifest)
    served = load_predictor(exported, "tensorflow").predict(test)
    expected = keras.ops.softmax(model({"inputs": inputs}), axis=-1)
    np.testing.assert_allclose(served, keras.ops.convert_to_numpy(expected), atol=1e-5)


def test_adam_takes_the_spec_epsilon(penguins_spec):
    training = penguins_spec.training.model_copy(update={"adam_epsilon": 1e-8})
    optimizer = make_optimizer(training)
    assert optimizer.epsilon == 1e-8
    assert float(optimizer.learning_rate) == pytest.approx(training.learning_rate)
    sgd = make_optimizer(training.model_copy(update={"optimizer": "sgd"}))
    assert type(sgd).__name__ == "SGD"


def test_unknown_compile_mode_is_refused(penguins_spec):
    model = build_model(penguins_spec.training, PENGUINS_INPUT, 3)
    with pytest.raises(ValueError, match="unknown compile mode"):
        compile_model(model, penguins_spec.training, "turbo", task="classification")


@pytest.mark.parametrize(
    ("mode", "run_eagerly", "jit_compile"),
    [("eager", True, False), ("graph", False, False), ("xla", False, True)],
)
def test_each_compile_mode_trains_an_epoch(
    penguins_spec, encoded_train, mode, run_eagerly, jit_compile
):
    result = fit_model(
        encoded_train,
        None,
        PENGUINS_INPUT,
        3,
        penguins_spec.training,
        seed=0,
        mode=mode,
        epochs=1,
        task="classification",
    )
    assert result.model.run_eagerly is run_eagerly
    assert result.model.jit_compile is jit_compile
    assert len(result.history["loss"]) == 1
    assert result.history["loss"][0] > 0
    assert result.train_examples == 247
    assert result.samples_per_s > 0


def test_only_the_chief_logs(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert is_chief()
    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})
    )
    assert not is_chief()
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )
    assert is_chief()


def test_one_machine_without_gpus_trains_on_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = make_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_the_step_timer_stops_at_validation_and_hooks_no_batch(monkeypatch):
    """An epoch's seconds run from its start to its validation's start (else to its end); no
    per-batch hook, which would make Keras sync and convert every step's logs."""
    ticks = iter([10.0, 12.5, 30.0, 33.0])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(ticks))
    timer = StepTimer()
    timer.on_epoch_begin(0)  # 10.0
    timer.on_test_begin()  # 12.5: validation starts
    timer.on_epoch_end(0)
    timer.on_epoch_begin(1)  # 30.0
    timer.on_epoch_end(1)  # 33.0: no validation
    assert timer.epoch_seconds == [2.5, 3.0]
    assert type(timer).on_train_batch_end is keras.callbacks.Callback.on_train_batch_end
