"""The Keras network of the spec's model family, its optimizer and its compile mode.

`build_model` builds `training.model` (mlp, resnet or ft_transformer) layer for layer as the
PyTorch side does, with the parameter count and the initialisation that
`components.common.architectures` states for both; a custom pair's Keras network is the user's
(`custom`), called on the same input. Like the torch network it returns raw
outputs (logits for classification, the standardised prediction for regression): the loss applies
softmax, the export adds it.

Keras' defaults already match that contract for Dense (Glorot-uniform kernel, zero bias); the
builders spell them out anyway. They differ for LayerNormalization (epsilon 1e-3, set to 1e-5
here). MultiHeadAttention's kernels are 3-D ((d, heads, head_dim), (heads, head_dim, d)); Keras
(3.15, the pinned version) has its EinsumDense projections tell GlorotUniform which axes are the
input and output units, so each kernel is drawn over the (d, d) matrix it reshapes to (a test
checks the limit: Keras versions that took fans from the 3-D shape drew narrower).
"""

from __future__ import annotations

import math

import keras
import numpy as np

from components.common.architectures import LAYER_NORM_EPSILON
from components.spec import (
    CustomModel,
    FTTransformerModel,
    FTTransformerParams,
    MLPModel,
    ResNetModel,
    Task,
    TrainingSpec,
)
from components.tf_trainer.config import INPUTS
from components.tf_trainer.custom import custom_network

COMPILE_MODES = ("eager", "graph", "xla")
OUTPUT_LAYER = "outputs"


def _uniform(limit: float) -> keras.initializers.Initializer:
    """Uniform in ±limit; unseeded, so each call draws a fresh seed from the global one."""
    return keras.initializers.RandomUniform(-limit, limit)


def _linear(units: int, name: str, activation: str | None = None) -> keras.layers.Dense:
    """Dense with the contract's initialisation: Glorot-uniform kernel, zero bias."""
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
    )


def _layer_norm(name: str) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)


def _head(x, n_outputs: int):
    """LayerNorm → ReLU → Dense: the resnet's and the ft_transformer's output."""
    x = _layer_norm("head_norm")(x)
    x = keras.layers.ReLU(name="head_relu")(x)
    return _linear(n_outputs, OUTPUT_LAYER)(x)


@keras.saving.register_keras_serializable(package="tandem")
class FeatureTokenizer(keras.layers.Layer):
    """[batch, n_inputs] → tokens [batch, n_inputs + 1, d_token]: input i becomes
    x[:, i] * weight[i] + bias[i], and the learned [CLS] token is appended last.

    weight, bias and the [CLS] token are uniform in ±1/sqrt(d_token), as in the paper.
    """

    def __init__(self, d_token: int, **kwargs):
        super().__init__(**kwargs)
        self.d_token = d_token

    def build(self, input_shape):
        n_inputs, limit = input_shape[-1], 1 / math.sqrt(self.d_token)
        shape = (n_inputs, self.d_token)
        self.weight = self.add_weight(shape=shape, initializer=_uniform(limit), name="weight")
        self.bias = self.add_weight(shape=shape, initializer=_uniform(limit), name="bias")
        self.cls = self.add_weight(shape=(self.d_token,), initializer=_uniform(limit), name="cls")

    def call(self, x):
        tokens = x[:, :, None] * self.weight + self.bias
        cls = keras.ops.broadcast_to(self.cls, (keras.ops.shape(x)[0], 1, self.d_token))
        return keras.ops.concatenate([tokens, cls], axis=1)

    def get_config(self):
        return {**super().get_config(), "d_token": self.d_token}


def _mlp(x, hidden_sizes: list[int], n_outputs: int):
    for index, width in enumerate(hidden_sizes):
        x = _linear(width, f"hidden_{index}", activation="relu")(x)
    return _linear(n_outputs, OUTPUT_LAYER)(x)


def _feed_forward(x, inner: int, dropout: float, residual_dropout: float, name: str):
    """LayerNorm → Dense + ReLU → dropout → Dense → dropout, added to its input: the resnet's
    block and the ft_transformer's feed-forward network (layers named `<name>_<part>`)."""
    width = x.shape[-1]
    z = _layer_norm(f"{name}_norm")(x)
    z = _linear(inner, f"{name}_linear_1", activation="relu")(z)
    z = keras.layers.Dropout(dropout, name=f"{name}_dropout")(z)
    z = _linear(width, f"{name}_linear_2")(z)
    z = keras.layers.Dropout(residual_dropout, name=f"{name}_residual_dropout")(z)
    return keras.layers.Add(name=f"{name}_residual")([x, z])


def _resnet(x, model: ResNetModel, n_outputs: int):
    p = model.params
    x = _linear(p.d_main, "stem")(x)
    for index in range(p.n_blocks):
        x = _feed_forward(x, p.d_hidden, p.dropout, p.residual_dropout, f"block_{index}")
    return _head(x, n_outputs)


def _attention(p: FTTransformerParams, name: str) -> keras.layers.MultiHeadAttention:
    """Self-attention over d_token with Q, K, V and output each a (d_token, d_token) matrix with
    bias; attention_dropout on the attention weights."""
    return keras.layers.MultiHeadAttention(
        num_heads=p.n_heads,
        key_dim=p.d_token // p.n_heads,
        dropout=p.attention_dropout,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
    )


def _ft_transformer(x, model: FTTransformerModel, n_outputs: int):
    p = model.params
    t = FeatureTokenizer(p.d_token, name="tokenizer")(x)
    for index in range(p.n_blocks):
        block = f"block_{index}"
        z = _layer_norm(f"{block}_attention_norm")(t)
        z = _attention(p, f"{block}_attention")(z, z)
        z = keras.layers.Dropout(p.residual_dropout, name=f"{block}_attention_residual_dropout")(z)
        t = keras.layers.Add(name=f"{block}_attention_residual")([t, z])
        t = _feed_forward(t, p.d_ffn, p.ffn_dropout, p.residual_dropout, f"{block}_ffn")
    return _head(t[:, -1], n_outputs)


def build_model(training: TrainingSpec, n_inputs: int, n_outputs: int) -> keras.Model:
    """The spec's family: {"inputs": float32 [batch, n_inputs]} → raw outputs [batch, n_outputs]
    (class logits, or one standardised regression prediction).

    The input is a one-key dict, the structure the transformed datasets yield.
    """
    inputs = keras.Input(shape=(n_inputs,), dtype="float32", name=INPUTS)
    model = training.model
    if isinstance(model, MLPModel):
        outputs = _mlp(inputs, training.hidden_sizes, n_outputs)
    elif isinstance(model, ResNetModel):
        outputs = _resnet(inputs, model, n_outputs)
    elif isinstance(model, CustomModel):
        outputs = custom_network(model, n_inputs, n_outputs)(inputs)
    else:
        outputs = _ft_transformer(inputs, model, n_outputs)
    return keras.Model({INPUTS: inputs}, outputs, name=model.family)


def trainable_parameter_count(model: keras.Model) -> int:
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


def make_optimizer(training: TrainingSpec) -> keras.optimizers.Optimizer:
    """Adam with the spec's epsilon (Keras defaults to 1e-7, torch to 1e-8), or plain SGD."""
    if training.optimizer == "adam":
        return keras.optimizers.Adam(training.learning_rate, epsilon=training.adam_epsilon)
    return keras.optimizers.SGD(training.learning_rate)


def _loss_and_metrics(task: Task) -> tuple[keras.losses.Loss, list[keras.metrics.Metric]]:
    """Cross-entropy on logits and accuracy, or mean squared error and RMSE (standardised)."""
    if task == "regression":
        return keras.losses.MeanSquaredError(), [keras.metrics.RootMeanSquaredError(name="rmse")]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return loss, [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def compile_model(
    model: keras.Model, training: TrainingSpec, mode: str | None = None, *, task: Task
) -> None:
    """Compile for the task and `mode` (default: the spec's compile.tensorflow).

    eager → run_eagerly; graph → tf.function without XLA; xla → jit_compile=True. jit_compile is
    always set: Keras's "auto" turns XLA off on CPU-only machines.
    """
    mode = mode or training.compile.tensorflow
    if mode not in COMPILE_MODES:
        raise ValueError(f"unknown compile mode {mode!r}: expected one of {list(COMPILE_MODES)}")
    loss, metrics = _loss_and_metrics(task)
    model.compile(
        optimizer=make_optimizer(training),
        loss=loss,
        metrics=metrics,
        run_eagerly=mode == "eager",
        jit_compile=mode == "xla",
    )
