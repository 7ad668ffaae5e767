"""The model families both frameworks build, described once: parameter counts and initialisation.

The Keras builders (`components.tf_trainer.model`) and the torch builders
(`components.torch_trainer.model`) implement the families of `components.spec` (`mlp`, `resnet`,
`ft_transformer`) layer for layer, so each family has exactly the trainable parameter count
`parameter_count` gives, in both frameworks. Keras and torch initialise differently by default,
so both set the same scheme explicitly:

- every linear (Dense) weight matrix: Glorot-uniform over its own (fan_in, fan_out); every bias 0;
- the attention's query, key, value and output projections: each its own (d_token, d_token)
  matrix, Glorot-uniform, biases 0 (torch stores Q, K and V as one stacked matrix: each third is
  initialised as its own matrix);
- LayerNorm: scale 1, offset 0, epsilon 1e-5;
- the FT-Transformer's feature tokenizer (a weight and a bias vector per input) and its [CLS]
  token: uniform in ±1/sqrt(d_token), as in the paper.

Activations are ReLU everywhere; dropout sits at the same places. The FT-Transformer here differs
from the paper in two stated ways: its feed-forward networks use ReLU, not ReGLU, and every block
(also the first) normalises before attention.
"""

from __future__ import annotations

import itertools

from components.spec import FTTransformerModel, MLPModel, ResNetModel, TrainingSpec

LAYER_NORM_EPSILON = 1e-5


def _linear(fan_in: int, fan_out: int) -> int:
    return fan_in * fan_out + fan_out


def _layer_norm(width: int) -> int:
    return 2 * width


def mlp_parameters(hidden_sizes: list[int], n_inputs: int, n_outputs: int) -> int:
    widths = [n_inputs, *hidden_sizes, n_outputs]
    return sum(_linear(fan_in, fan_out) for fan_in, fan_out in itertools.pairwise(widths))


def resnet_parameters(model: ResNetModel, n_inputs: int, n_outputs: int) -> int:
    p = model.params
    block = _layer_norm(p.d_main) + _linear(p.d_main, p.d_hidden) + _linear(p.d_hidden, p.d_main)
    head = _layer_norm(p.d_main) + _linear(p.d_main, n_outputs)
    return _linear(n_inputs, p.d_main) + p.n_blocks * block + head


def ft_transformer_parameters(model: FTTransformerModel, n_inputs: int, n_outputs: int) -> int:
    p = model.params
    d = p.d_token
    tokenizer = 2 * n_inputs * d + d  # a weight and a bias vector per input, and [CLS]
    attention = 4 * _linear(d, d)  # query, key, value, output
    ffn = _linear(d, p.d_ffn) + _linear(p.d_ffn, d)
    block = _layer_norm(d) + attention + _layer_norm(d) + ffn
    head = _layer_norm(d) + _linear(d, n_outputs)
    return tokenizer + p.n_blocks * block + head


def parameter_count(training: TrainingSpec, n_inputs: int, n_outputs: int) -> int:
    """Trainable parameters of the spec's built-in family on `n_inputs` encoded inputs and
    `n_outputs` outputs. A custom pair has no formula: each trainer counts the network it built."""
    model = training.model
    if isinstance(model, MLPModel):
        return mlp_parameters(training.hidden_sizes, n_inputs, n_outputs)
    if isinstance(model, ResNetModel):
        return resnet_parameters(model, n_inputs, n_outputs)
    if isinstance(model, FTTransformerModel):
        return ft_transformer_parameters(model, n_inputs, n_outputs)
    raise ValueError(f"no parameter formula for the {model.family!r} family: count the built model")
