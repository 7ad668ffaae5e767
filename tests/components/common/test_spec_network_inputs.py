"""What the spec lets a network read: a cnn convolves a series or an image its blocks can halve,
and a custom pair's params leave the input keywords to tandem."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.common.errors import TandemError
from components.spec import parse_spec


def array_spec(shape: list[int], model: dict) -> str:
    return f"""
name: arrays
dataset:
  source: data.parquet
  label: y
  classes: [a, b]
  features: [{{name: x, type: array, shape: {shape}}}]
training:
  model: {model}
"""


def problem(text: str) -> str:
    with pytest.raises(TandemError) as raised:
        parse_spec(text, Path("spec.yaml"))
    return str(raised.value)


@pytest.mark.parametrize("shape", [[24, 1], [28, 28, 1], [8, 8, 3]])
def test_a_cnn_reads_a_series_or_an_image(shape):
    spec = parse_spec(array_spec(shape, {"family": "cnn"}), Path("spec.yaml")).spec
    assert spec.training.model.params.channels == [16, 32]


@pytest.mark.parametrize("shape", [[24], [4, 8, 8, 1]])
def test_a_cnn_refuses_other_ranks(shape):
    assert problem(array_spec(shape, {"family": "cnn"})) == (
        "spec.yaml: training.model.family: cnn reads a series [steps, channels] or an image "
        f"[height, width, channels], but array feature 'x' has shape {shape}; reshape it or use "
        "a custom pair"
    )


def test_a_cnn_needs_room_for_each_halving():
    three_blocks = {"family": "cnn", "params": {"channels": [4, 4, 4]}}
    assert parse_spec(array_spec([8, 1], three_blocks), Path("spec.yaml"))
    assert problem(array_spec([7, 1], three_blocks)) == (
        "spec.yaml: training.model.params.channels: 3 blocks halve each spatial size 3 times, so "
        "each size of shape [7, 1] except the channels must be at least 8; list fewer channels"
    )
    assert "shape [28, 6, 1]" in problem(array_spec([28, 6, 1], three_blocks))


def test_custom_params_leave_the_input_keywords_to_tandem():
    model = {
        "family": "custom",
        "tensorflow": "nets:build",
        "pytorch": "nets:build",
        "params": {"width": 4, "input_shape": [24, 1]},
    }
    assert problem(array_spec([24, 1], model)) == (
        "spec.yaml: training.model.custom.params: tandem passes input_shape from the dataset's "
        "input; remove it from params"
    )
