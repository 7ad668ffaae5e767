"""The torch cnn and transformer: their input, parameter count, initialisation as
`components.common.architectures` states it (set explicitly: torch's defaults differ), the padding
mask, and the inference module."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from components.common import architectures
from components.common.text_tokens import PAD_ID
from components.torch_trainer.model import Network
from components.torch_trainer.networks import TokenEmbedding
from tests.components.model_families import (
    CNN_SMALL,
    IMAGE,
    SERIES,
    TENSOR_SIZE_IDS,
    TENSOR_SIZES,
    TEXT,
    TRANSFORMER_SMALL,
    glorot_limit,
    random_batch,
    token_ids,
    training_spec,
)


def network(model: dict, network_input, n_outputs: int) -> Network:
    torch.manual_seed(0)
    return Network(training_spec(model), network_input, n_outputs)


def assert_glorot_uniform(weight: torch.Tensor) -> None:
    """Within the limit of the kernel's fans ([c_out, c_in, k...]: fan_in = c_in * k^d,
    fan_out = c_out * k^d; a linear layer has no window), and spread over it."""
    fan_out, fan_in, *window = weight.shape
    receptive_field = math.prod(window)
    limit = glorot_limit(fan_in * receptive_field, fan_out * receptive_field)
    largest = weight.abs().max().item()
    assert 0.5 * limit < largest <= limit, (tuple(weight.shape), largest, limit)


@pytest.mark.parametrize(("model", "network_input", "n_outputs"), TENSOR_SIZES, ids=TENSOR_SIZE_IDS)
def test_each_reads_its_input_and_gives_raw_outputs_of_the_stated_count(
    model, network_input, n_outputs
):
    built = network(model, network_input, n_outputs).eval()
    expected = architectures.parameter_count(built.training_spec, network_input, n_outputs)
    assert built.parameter_count() == expected
    x = torch.from_numpy(random_batch(network_input, rows=5))
    assert x.dtype == (torch.int64 if network_input.kind == "text" else torch.float32)
    logits = built(x)
    assert logits.shape == (5, n_outputs)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(("model", "network_input", "n_outputs"), TENSOR_SIZES, ids=TENSOR_SIZE_IDS)
def test_each_is_initialised_by_the_shared_contract(model, network_input, n_outputs):
    seen = set()
    for module in network(model, network_input, n_outputs).network.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
            assert_glorot_uniform(module.weight)
            assert torch.count_nonzero(module.bias) == 0
        elif isinstance(module, nn.MultiheadAttention):
            for projection in module.in_proj_weight.chunk(3):  # Q, K, V: each its own matrix
                assert_glorot_uniform(projection)
            assert torch.count_nonzero(module.in_proj_bias) == 0
        elif isinstance(module, nn.LayerNorm):
            assert module.eps == architectures.LAYER_NORM_EPSILON
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.count_nonzero(module.bias) == 0
        elif isinstance(module, TokenEmbedding):
            bound = 1 / math.sqrt(model["params"]["d_model"])
            for parameter in (module.token, module.position):
                assert 0.5 * bound < parameter.abs().max().item() <= bound
        seen.add(type(module))
    convolution = nn.Conv2d if len(network_input.row_shape) == 3 else nn.Conv1d
    expected = {
        "cnn": {convolution, nn.Linear},
        "transformer": {TokenEmbedding, nn.MultiheadAttention, nn.LayerNorm, nn.Linear},
    }
    assert expected[model["family"]] <= seen


@pytest.mark.parametrize(
    ("network_input", "shape"),
    [(IMAGE, (8, 4, 3, 3)), (SERIES, (8, 4, 3))],
    ids=["image", "series"],
)
def test_an_image_takes_2d_and_a_series_1d_convolutions(network_input, shape):
    built = network(CNN_SMALL, network_input, 10).network
    kernels = [m.weight.shape for m in built.modules() if isinstance(m, nn.Conv1d | nn.Conv2d)]
    assert kernels[-1] == shape


def test_padding_takes_no_attention():
    """Whatever the [PAD] embedding holds, the outputs stay: no [PAD] key reaches [CLS] (without
    the mask its value would). A token the rows do hold changes them: the test can see one."""
    built = network(TRANSFORMER_SMALL, TEXT, 2).eval()
    ids = torch.from_numpy(token_ids(TEXT, rows=6))
    embedding = built.network.embedding
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        before = built(ids)
        embedding.token[PAD_ID] = torch.rand(8, generator=generator) * 6 - 3
        torch.testing.assert_close(built(ids), before)
        embedding.token[ids[1, 1]] = torch.rand(8, generator=generator) * 6 - 3  # row 1 is full
        assert not torch.allclose(built(ids)[1], before[1], atol=1e-3)


def test_a_row_of_cls_alone_gives_finite_outputs_in_training_mode():
    """Every row keeps one key ([CLS]); dropout on and gradients flowing, as when training."""
    built = network(TRANSFORMER_SMALL, TEXT, 2).train()
    ids = torch.from_numpy(token_ids(TEXT, rows=6))
    logits = built(ids)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in built.parameters() if p.grad is not None)


@pytest.mark.parametrize(
    ("model", "network_input"), [(CNN_SMALL, IMAGE), (TRANSFORMER_SMALL, TEXT)]
)
def test_the_inference_module_outputs_probabilities_with_the_trained_weights(model, network_input):
    built = network(model, network_input, 3).eval()
    x = torch.from_numpy(random_batch(network_input, rows=4))
    probabilities = built.inference_module()(x)
    torch.testing.assert_close(probabilities, torch.softmax(built(x), dim=1))
    np.testing.assert_allclose(probabilities.sum(dim=1).detach().numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    ("model", "network_input"), [(CNN_SMALL, SERIES), (TRANSFORMER_SMALL, TEXT)]
)
def test_the_inference_module_scripts_and_exports_with_a_dynamic_batch(model, network_input):
    """The export contract's two formats: torch.export (any batch size) and TorchScript."""
    module = network(model, network_input, 3).inference_module()
    x = torch.from_numpy(random_batch(network_input, rows=4))
    batch = torch.export.Dim("batch", min=1)
    exported = torch.export.export(module, (x,), dynamic_shapes=({0: batch},)).module()
    with torch.no_grad():
        expected = module(x)
        torch.testing.assert_close(exported(x[:3]), expected[:3])
        torch.testing.assert_close(torch.jit.script(module)(x), expected)
