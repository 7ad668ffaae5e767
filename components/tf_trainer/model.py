"""The Keras network of the spec's model family, its optimizer and its compile mode.

`build_model` builds `training.model` (mlp, resnet, ft_transformer, cnn or transformer) layer for
layer as the PyTorch side does, with the parameter count and the initialisation that
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

from components.common.architectures import (
    LAYER_NORM_EPSILON,
    NetworkInput,
    check_input,
)
from components.common.text_tokens import PAD_ID
from components.spec import (
    CNNModel,
    CustomModel,
    FTTransformerModel,
    FTTransformerParams,
    MLPModel,
    ResNetModel,
    Task,
    TrainingSpec,
    TransformerModel,
    TransformerParams,
)
from components.tf_trainer.config import INPUTS
from components.tf_trainer.custom import custom_network

COMPILE_MODES = ("eager", "graph", "xla")
# The FT-Transformer's and the transformer's block settings (their widths are named apart).
BlockParams = FTTransformerParams | TransformerParams
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
    """LayerNorm → ReLU → Dense: the resnet's, the ft_transformer's and the transformer's
    output."""
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


@keras.saving.register_keras_serializable(package="tandem")
class TokenEmbedding(keras.layers.Layer):
    """Token ids [batch, max_length] → token embedding plus learned position embedding
    [batch, max_length, d_model]; both tables uniform in ±1/sqrt(d_model)."""

    def __init__(self, vocabulary_size: int, max_length: int, d_model: int, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.max_length, self.d_model = vocabulary_size, max_length, d_model

    def build(self, input_shape):
        limit = 1 / math.sqrt(self.d_model)
        self.token = self.add_weight(
            shape=(self.vocabulary_size, self.d_model), initializer=_uniform(limit), name="token"
        )
        self.position = self.add_weight(
            shape=(self.max_length, self.d_model), initializer=_uniform(limit), name="position"
        )

    def call(self, ids):
        return keras.ops.take(self.token, ids, axis=0) + self.position

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "max_length": self.max_length,
            "d_model": self.d_model,
        }


@keras.saving.register_keras_serializable(package="tandem")
class PaddingMask(keras.layers.Layer):
    """Token ids [batch, length] → attention mask [batch, length, length]: every query may
    attend key j unless id j is [PAD] (the torch side's key_padding_mask, inverted)."""

    def call(self, ids):
        keys = keras.ops.not_equal(ids, PAD_ID)
        return keras.ops.repeat(keys[:, None, :], ids.shape[1], axis=1)


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


def _attention(width: int, p: BlockParams, name: str) -> keras.layers.MultiHeadAttention:
    """Self-attention over `width` with Q, K, V and output each a (width, width) matrix with
    bias; attention_dropout on the attention weights."""
    return keras.layers.MultiHeadAttention(
        num_heads=p.n_heads,
        key_dim=width // p.n_heads,
        dropout=p.attention_dropout,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
    )


def _transformer_block(t, width: int, p: BlockParams, name: str, attention_mask=None):
    """The pre-norm block: LayerNorm → self-attention (keys masked out where `attention_mask`
    is False) → dropout, added; then the feed-forward network, added."""
    z = _layer_norm(f"{name}_attention_norm")(t)
    z = _attention(width, p, f"{name}_attention")(z, z, attention_mask=attention_mask)
    z = keras.layers.Dropout(p.residual_dropout, name=f"{name}_attention_residual_dropout")(z)
    t = keras.layers.Add(name=f"{name}_attention_residual")([t, z])
    return _feed_forward(t, p.d_ffn, p.ffn_dropout, p.residual_dropout, f"{name}_ffn")


def _ft_transformer(x, model: FTTransformerModel, n_outputs: int):
    p = model.params
    t = FeatureTokenizer(p.d_token, name="tokenizer")(x)
    for index in range(p.n_blocks):
        t = _transformer_block(t, p.d_token, p, f"block_{index}")
    return _head(t[:, -1], n_outputs)


def _cnn(x, model: CNNModel, n_outputs: int):
    """Channels last, as the array arrives: 2-D for [H, W, C], 1-D for [steps, C]."""
    p = model.params
    image = len(x.shape) == 4
    convolution = keras.layers.Conv2D if image else keras.layers.Conv1D
    pooling = keras.layers.MaxPooling2D if image else keras.layers.MaxPooling1D
    average = keras.layers.GlobalAveragePooling2D if image else keras.layers.GlobalAveragePooling1D
    for index, channels in enumerate(p.channels):
        x = convolution(
            channels,
            p.kernel_size,
            padding="same",
            activation="relu",
            kernel_initializer="glorot_uniform",
            bias_initializer="zeros",
            name=f"conv_{index}",
        )(x)
        x = pooling(pool_size=2, strides=2, padding="valid", name=f"pool_{index}")(x)
    x = average(name="global_average")(x)
    x = _linear(p.d_hidden, "hidden", activation="relu")(x)
    x = keras.layers.Dropout(p.dropout, name="dropout")(x)
    return _linear(n_outputs, OUTPUT_LAYER)(x)


def _transformer(ids, model: TransformerModel, network_input: NetworkInput, n_outputs: int):
    p = model.params
    embed = TokenEmbedding(
        network_input.vocabulary_size, network_input.max_length, p.d_model, name="embedding"
    )
    t = embed(ids)
    mask = PaddingMask(name="padding_mask")(ids)
    for index in range(p.n_blocks):
        t = _transformer_block(t, p.d_model, p, f"block_{index}", attention_mask=mask)
    return _head(t[:, 0], n_outputs)  # [CLS], always the first token


def build_model(training: TrainingSpec, network_input: NetworkInput, n_outputs: int) -> keras.Model:
    """The spec's family: {"inputs": <batch of `network_input`>} → raw outputs
    [batch, n_outputs] (class logits, or one standardised regression prediction). The input is
    float32 [batch, width] (tabular), float32 [batch, *shape] (array) or int64 [batch,
    max_length] token ids (text).

    The input is a one-key dict, the structure the transformed datasets yield.
    """
    model = training.model
    check_input(model.family, network_input)
    inputs = keras.Input(shape=network_input.row_shape, dtype=network_input.dtype, name=INPUTS)
    if isinstance(model, MLPModel):
        outputs = _mlp(inputs, training.hidden_sizes, n_outputs)
    elif isinstance(model, ResNetModel):
        outputs = _resnet(inputs, model, n_outputs)
    elif isinstance(model, FTTransformerModel):
        outputs = _ft_transformer(inputs, model, n_outputs)
    elif isinstance(model, CNNModel):
        outputs = _cnn(inputs, model, n_outputs)
    elif isinstance(model, CustomModel):
        outputs = custom_network(model, network_input, n_outputs)(inputs)
    else:
        outputs = _transformer(inputs, model, network_input, n_outputs)
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
