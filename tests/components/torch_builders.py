"""torch builders for the custom-pair tests: one that keeps the contract, and one per way of
breaking it (`components.common.custom_models`)."""

from __future__ import annotations

import math

import torch
from torch import nn

NOT_CALLABLE = 42
CONSTANT = 0.125


def two_layers(n_inputs: int, n_outputs: int, width: int = 8) -> nn.Module:
    return nn.Sequential(nn.Linear(n_inputs, width), nn.GELU(), nn.Linear(width, n_outputs))


def constant_weights(n_inputs: int, n_outputs: int, width: int = 8) -> nn.Module:
    """Initialised by the builder: every weight and bias CONSTANT (tandem must keep them)."""
    network = two_layers(n_inputs, n_outputs, width)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.fill_(CONSTANT)
    return network


def lazy(n_inputs: int, n_outputs: int, width: int = 8) -> nn.Module:
    """Its first layer's input width is only known after a forward pass."""
    return nn.Sequential(nn.LazyLinear(width), nn.GELU(), nn.Linear(width, n_outputs))


def one_output_too_many(n_inputs: int, n_outputs: int) -> nn.Module:
    return two_layers(n_inputs, n_outputs + 1)


def frozen(n_inputs: int, n_outputs: int) -> nn.Module:
    return two_layers(n_inputs, n_outputs).requires_grad_(False)


def a_function(n_inputs: int, n_outputs: int):
    return torch.nn.functional.relu


def wrong_input_width(n_inputs: int, n_outputs: int) -> nn.Module:
    return two_layers(n_inputs + 1, n_outputs)


def image_pair(n_inputs: int, n_outputs: int, input_shape: tuple, width: int = 8) -> nn.Module:
    """For an array input [batch, *input_shape]: flattened, then two layers."""
    assert math.prod(input_shape) == n_inputs
    return nn.Sequential(nn.Flatten(), two_layers(n_inputs, n_outputs, width))


def text_pair(
    n_inputs: int, n_outputs: int, vocabulary_size: int, max_length: int, width: int = 8
) -> nn.Module:
    """For token ids [batch, max_length]: the mean of their embeddings, then a linear layer."""
    assert n_inputs == max_length
    return nn.Sequential(
        nn.EmbeddingBag(vocabulary_size, width, mode="mean"), nn.Linear(width, n_outputs)
    )
