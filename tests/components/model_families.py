"""Each model family at two sizes, the cases the Keras, torch and cross-framework tests share,
and random batches of each kind of input."""

from __future__ import annotations

import math

import numpy as np

from components.common.architectures import NetworkInput
from components.common.text_tokens import CLS_ID, PAD_ID
from components.spec import TrainingSpec

PENGUINS_INPUT = NetworkInput.tabular(9)

SMALL = {
    "mlp": {"family": "mlp"},
    "resnet": {"family": "resnet", "params": {"d_main": 8, "d_hidden": 16, "n_blocks": 1}},
    "ft_transformer": {
        "family": "ft_transformer",
        "params": {"d_token": 8, "n_blocks": 1, "n_heads": 2, "d_ffn": 16},
    },
}
OTHER = {
    "mlp": {"family": "mlp"},
    "resnet": {
        "family": "resnet",
        "params": {"d_main": 12, "d_hidden": 6, "n_blocks": 3, "dropout": 0.1},
    },
    "ft_transformer": {
        "family": "ft_transformer",
        "params": {"d_token": 12, "n_blocks": 2, "n_heads": 3, "d_ffn": 20, "ffn_dropout": 0.1},
    },
}
# (model, hidden_sizes, n_inputs, n_classes): penguins' size with SMALL, another with OTHER.
SIZES = [
    *((SMALL[family], [16, 8], 9, 3) for family in SMALL),
    *((OTHER[family], [20], 14, 5) for family in OTHER),
]
SIZE_IDS = [f"{model['family']}-{n_inputs}in" for model, _, n_inputs, _ in SIZES]


def training_spec(model: dict, hidden_sizes: list[int] | None = None) -> TrainingSpec:
    return TrainingSpec(model=model, hidden_sizes=hidden_sizes or [16, 8])


def glorot_limit(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6 / (fan_in + fan_out))


def assert_uniform_within(values: np.ndarray, limit: float, spread: float = 0.5) -> None:
    """Inside ±limit, and spread as a uniform draw over it would be (not a narrower one)."""
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > spread * limit


IMAGE = NetworkInput.array([28, 28, 1])
SERIES = NetworkInput.array([24, 1])
TEXT = NetworkInput.text(vocabulary_size=40, max_length=12)
CNN_SMALL = {"family": "cnn", "params": {"channels": [4, 8], "kernel_size": 3, "d_hidden": 16}}
TRANSFORMER_SMALL = {
    "family": "transformer",
    "params": {"d_model": 8, "n_blocks": 1, "n_heads": 2, "d_ffn": 16},
}
# (model, input, n_outputs): cnn on an image and on a series, transformer on text, two sizes each
# (one with a single, regression-like output); plus a non-square image with 3 channels, where a
# mixed-up axis order would show.
TENSOR_SIZES = [
    (CNN_SMALL, IMAGE, 10),
    (
        {
            "family": "cnn",
            "params": {"channels": [6, 4, 5], "kernel_size": 5, "d_hidden": 9, "dropout": 0.2},
        },
        IMAGE,
        3,
    ),
    ({"family": "cnn", "params": {"channels": [5], "kernel_size": 3, "d_hidden": 7}}, SERIES, 1),
    (
        {
            "family": "cnn",
            "params": {"channels": [8, 8, 4], "kernel_size": 2, "d_hidden": 12, "dropout": 0.1},
        },
        SERIES,
        4,
    ),
    (
        {"family": "cnn", "params": {"channels": [3, 6], "kernel_size": 3, "d_hidden": 5}},
        NetworkInput.array([9, 6, 3]),
        2,
    ),
    (TRANSFORMER_SMALL, TEXT, 2),
    (
        {
            "family": "transformer",
            "params": {
                "d_model": 12,
                "n_blocks": 2,
                "n_heads": 3,
                "d_ffn": 20,
                "ffn_dropout": 0.1,
                "residual_dropout": 0.1,
            },
        },
        NetworkInput.text(vocabulary_size=64, max_length=10),
        1,
    ),
]
TENSOR_SIZE_IDS = [
    f"{model['family']}-{'x'.join(map(str, network_input.row_shape))}-{index}"
    for index, (model, network_input, _) in enumerate(TENSOR_SIZES)
]


def token_ids(network_input: NetworkInput, rows: int, seed: int = 0) -> np.ndarray:
    """int64 [rows, max_length] as the tokenizer gives them: [CLS], word-piece ids, then [PAD]s.
    Row 0 holds [CLS] alone, row 1 is full, the others hold a random number of pieces."""
    generator = np.random.default_rng(seed)
    length = network_input.max_length
    ids = generator.integers(CLS_ID + 1, network_input.vocabulary_size, (rows, length))
    ids[:, 0] = CLS_ID
    used = generator.integers(1, length, rows)
    used[:2] = [1, length]
    for row, count in enumerate(used):
        ids[row, count:] = PAD_ID
    return ids.astype(np.int64)


def random_batch(network_input: NetworkInput, rows: int, seed: int = 0) -> np.ndarray:
    """A batch of the input: token ids for text, standard normal float32 otherwise."""
    if network_input.kind == "text":
        return token_ids(network_input, rows, seed)
    generator = np.random.default_rng(seed)
    return generator.standard_normal((rows, *network_input.row_shape)).astype(np.float32)
