"""The model families both frameworks build, described once: their input, parameter counts and
initialisation.

The Keras builders (`components.tf_trainer.model`) and the torch builders
(`components.torch_trainer.networks`) implement the families of `components.spec` (`mlp`,
`resnet`, `ft_transformer` on tabular input, `cnn` on an array, `transformer` on text) layer for
layer, so each family has exactly the trainable parameter count `parameter_count` gives, in both
frameworks. What a network reads is a `NetworkInput`. Keras and torch initialise differently by
default, so both set the same scheme explicitly:

- every linear (Dense) weight matrix: Glorot-uniform over its own (fan_in, fan_out); every bias 0;
- every convolution kernel (the cnn's): Glorot-uniform over fan_in = k^d * c_in and
  fan_out = k^d * c_out (k the kernel size, d the convolution's dimensions: Keras' definition,
  which torch's `xavier_uniform_` shares for its [c_out, c_in, k, ...] kernels); biases 0;
- the attention's query, key, value and output projections: each its own (width, width)
  matrix, Glorot-uniform, biases 0 (torch stores Q, K and V as one stacked matrix: each third is
  initialised as its own matrix);
- LayerNorm: scale 1, offset 0, epsilon 1e-5;
- the FT-Transformer's feature tokenizer (a weight and a bias vector per input) and its [CLS]
  token: uniform in ±1/sqrt(d_token), as in the paper;
- the transformer's token embedding (vocabulary_size x d_model) and learned position embedding
  (max_length x d_model): uniform in ±1/sqrt(d_model), the FT-Transformer's tokenizer scheme.

Activations are ReLU everywhere; dropout sits at the same places. The FT-Transformer here differs
from the paper in two stated ways: its feed-forward networks use ReLU, not ReGLU, and every block
(also the first) normalises before attention. The transformer runs the same blocks over token
embeddings, with [PAD] keys masked out of every attention.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Literal

from components.common.errors import TandemError
from components.common.features import input_names
from components.spec import (
    FAMILY_INPUTS,
    CNNModel,
    DatasetSpec,
    FTTransformerModel,
    MLPModel,
    ResNetModel,
    TrainingSpec,
    TransformerModel,
)

LAYER_NORM_EPSILON = 1e-5

InputKind = Literal["tabular", "text", "array"]
_KIND_FIELDS = {
    "tabular": ("width",),
    "array": ("shape",),
    "text": ("vocabulary_size", "max_length"),
}


@dataclass(frozen=True)
class NetworkInput:
    """What a network reads, one batch row at a time (`row_shape`, `dtype`):

    - tabular: the encoded row, float32 [batch, width];
    - array: the normalised tensor, float32 [batch, *shape], channels last;
    - text: token ids, int64 [batch, max_length] in [0, vocabulary_size): [CLS] first, [PAD] (0)
      after the text.

    Only the kind's own fields are set. Build it with `tabular`, `array` or `text`, from a
    snapshot with `from_manifest`, or before ingest with `from_spec`.
    """

    kind: InputKind
    width: int | None = None
    shape: tuple[int, ...] | None = None
    vocabulary_size: int | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KIND_FIELDS:
            raise ValueError(f"unknown input kind {self.kind!r}: expected {list(_KIND_FIELDS)}")
        for kind, fields in _KIND_FIELDS.items():
            for field in fields:
                value = getattr(self, field)
                if (value is not None) != (kind == self.kind):
                    wanted = "needs" if kind == self.kind else "takes no"
                    raise ValueError(f"a {self.kind} input {wanted} {field}")

    @classmethod
    def tabular(cls, width: int) -> NetworkInput:
        return cls("tabular", width=int(width))

    @classmethod
    def array(cls, shape: tuple[int, ...] | list[int]) -> NetworkInput:
        return cls("array", shape=tuple(int(size) for size in shape))

    @classmethod
    def text(cls, vocabulary_size: int, max_length: int) -> NetworkInput:
        return cls("text", vocabulary_size=int(vocabulary_size), max_length=int(max_length))

    @classmethod
    def from_manifest(cls, dataset: DatasetSpec, manifest: dict) -> NetworkInput:
        """The input of a snapshot's network: the encoded width (`features.input_names`), the
        array feature's shape, or the text feature's trained vocabulary size and max_length
        (manifest["statistics"]["text"][feature])."""
        kind = dataset.input_kind
        if kind == "tabular":
            return cls.tabular(len(input_names(manifest)))
        if kind == "array":
            return cls.array(dataset.tensor_feature.shape)
        feature = dataset.tensor_feature.name
        text = manifest["statistics"].get("text", {}).get(feature)
        if text is None:
            raise TandemError(
                f"snapshot manifest: statistics.text has no entry for text feature '{feature}'; "
                "re-run ingest with this spec"
            )
        return cls.text(text["vocabulary_size"], text["max_length"])

    @classmethod
    def from_spec(cls, dataset: DatasetSpec) -> NetworkInput:
        """The input as the spec alone states it, before ingest (the custom builders' check):
        a text feature's vocabulary_size is the requested one, which the trained vocabulary may
        fall short of."""
        kind = dataset.input_kind
        if kind == "tabular":
            return cls.tabular(dataset.n_inputs)
        feature = dataset.tensor_feature
        if kind == "array":
            return cls.array(feature.shape)
        return cls.text(feature.vocabulary_size, feature.max_length)

    @property
    def row_shape(self) -> tuple[int, ...]:
        """One row's shape, without the batch axis."""
        if self.kind == "tabular":
            return (self.width,)
        if self.kind == "array":
            return self.shape
        return (self.max_length,)

    @property
    def dtype(self) -> str:
        return "int64" if self.kind == "text" else "float32"

    @property
    def n_inputs(self) -> int:
        """Values in one row: the tabular width, the array's size, or max_length."""
        return math.prod(self.row_shape)

    def builder_keywords(self) -> dict[str, Any]:
        """What a custom builder gets besides `n_inputs`: `input_shape` for an array,
        `vocabulary_size` and `max_length` for text."""
        if self.kind == "array":
            return {"input_shape": self.shape}
        if self.kind == "text":
            return {"vocabulary_size": self.vocabulary_size, "max_length": self.max_length}
        return {}


def check_input(family: str, network_input: NetworkInput) -> None:
    """A built-in family reads one kind of input (`FAMILY_INPUTS`); a custom pair reads any."""
    wanted = FAMILY_INPUTS.get(family)
    if wanted is not None and wanted != network_input.kind:
        raise ValueError(f"the {family} family reads {wanted} input, not {network_input.kind}")


def _linear(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def _layer_norm(width: int) -> int:
    return 2 * width


def _transformer_block(width: int, d_ffn: int) -> int:
    """LayerNorm, attention (query, key, value, output); LayerNorm, feed-forward network."""
    attention = 4 * _linear(width, width)
    ffn = _linear(width, d_ffn) + _linear(d_ffn, width)
    return _layer_norm(width) + attention + _layer_norm(width) + ffn


def _head(width: int, n_outputs: int) -> int:
    return _layer_norm(width) + _linear(width, n_outputs)


def mlp_parameters(hidden_sizes: list[int], n_inputs: int, n_outputs: int) -> int:
    widths = [n_inputs, *hidden_sizes, n_outputs]
    return sum(_linear(fan_in, fan_out) for fan_in, fan_out in itertools.pairwise(widths))


def resnet_parameters(model: ResNetModel, n_inputs: int, n_outputs: int) -> int:
    p = model.params
    block = _layer_norm(p.d_main) + _linear(p.d_main, p.d_hidden) + _linear(p.d_hidden, p.d_main)
    return _linear(n_inputs, p.d_main) + p.n_blocks * block + _head(p.d_main, n_outputs)


def ft_transformer_parameters(model: FTTransformerModel, n_inputs: int, n_outputs: int) -> int:
    p = model.params
    d = p.d_token
    tokenizer = 2 * n_inputs * d + d  # a weight and a bias vector per input, and [CLS]
    return tokenizer + p.n_blocks * _transformer_block(d, p.d_ffn) + _head(d, n_outputs)


def cnn_parameters(model: CNNModel, shape: tuple[int, ...], n_outputs: int) -> int:
    """Convolutions over an array of `shape` ([H, W, C]: 2-D, [steps, C]: 1-D), each a
    k^d x c_in x c_out kernel and a bias per output channel; then the two dense layers."""
    p = model.params
    window = p.kernel_size ** (len(shape) - 1)
    widths = [shape[-1], *p.channels]
    convolutions = sum(window * c_in * c_out + c_out for c_in, c_out in itertools.pairwise(widths))
    return convolutions + _linear(widths[-1], p.d_hidden) + _linear(p.d_hidden, n_outputs)


def transformer_parameters(
    model: TransformerModel, vocabulary_size: int, max_length: int, n_outputs: int
) -> int:
    p = model.params
    d = p.d_model
    embeddings = vocabulary_size * d + max_length * d  # token and position
    return embeddings + p.n_blocks * _transformer_block(d, p.d_ffn) + _head(d, n_outputs)


def parameter_count(training: TrainingSpec, network_input: NetworkInput, n_outputs: int) -> int:
    """Trainable parameters of the spec's built-in family on `network_input` and `n_outputs`
    outputs. A custom pair has no formula: each trainer counts the network it built."""
    model = training.model
    check_input(model.family, network_input)
    if isinstance(model, MLPModel):
        return mlp_parameters(training.hidden_sizes, network_input.width, n_outputs)
    if isinstance(model, ResNetModel):
        return resnet_parameters(model, network_input.width, n_outputs)
    if isinstance(model, FTTransformerModel):
        return ft_transformer_parameters(model, network_input.width, n_outputs)
    if isinstance(model, CNNModel):
        return cnn_parameters(model, network_input.shape, n_outputs)
    if isinstance(model, TransformerModel):
        i = network_input
        return transformer_parameters(model, i.vocabulary_size, i.max_length, n_outputs)
    raise ValueError(f"no parameter formula for the {model.family!r} family: count the built model")
