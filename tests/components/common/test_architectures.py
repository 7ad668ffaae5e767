"""Each model family has the same trainable parameter count in Keras and in torch: the count
`architectures.parameter_count` states, at two sizes. The cnn and the transformer are also the
same function in both: with one framework's weights copied into the other, both give the same
outputs (padding masked alike). What a network reads is a `NetworkInput`."""

from __future__ import annotations

import numpy as np
import pytest

from components.common.architectures import NetworkInput, parameter_count
from components.common.errors import TandemError
from components.spec import DatasetSpec, TrainingSpec
from tests.components.model_families import (
    CNN_SMALL,
    IMAGE,
    SERIES,
    SIZE_IDS,
    SIZES,
    TENSOR_SIZE_IDS,
    TENSOR_SIZES,
    TEXT,
    TRANSFORMER_SMALL,
    random_batch,
    training_spec,
)


@pytest.mark.parametrize(("model", "hidden_sizes", "n_inputs", "n_classes"), SIZES, ids=SIZE_IDS)
def test_both_frameworks_build_the_stated_count(model, hidden_sizes, n_inputs, n_classes):
    from components.tf_trainer.model import build_model, trainable_parameter_count
    from components.torch_trainer.model import Network

    training = training_spec(model, hidden_sizes)
    network_input = NetworkInput.tabular(n_inputs)
    keras_count = trainable_parameter_count(build_model(training, network_input, n_classes))
    torch_count = Network(training, network_input, n_classes).parameter_count()
    assert keras_count == torch_count == parameter_count(training, network_input, n_classes)


def test_the_penguins_mlp_count_is_the_known_one():
    training = TrainingSpec.model_validate({"hidden_sizes": [16, 8]})
    assert parameter_count(training, NetworkInput.tabular(9), 3) == 323


def test_the_cnn_and_transformer_counts_are_the_known_ones():
    # Convolutions 3*3*1*4 + 4 and 3*3*4*8 + 8, then dense 8*16 + 16 and 16*10 + 10.
    assert parameter_count(training_spec(CNN_SMALL), IMAGE, 10) == 40 + 296 + 144 + 170
    # A 1-D kernel is k wide: 3*1*4 + 4 and 3*4*8 + 8.
    assert parameter_count(training_spec(CNN_SMALL), SERIES, 10) == 16 + 104 + 144 + 170
    # Token 40*8 and position 12*8 embeddings; a block: 2 LayerNorms (16 each), attention
    # 4 * (8*8 + 8), feed-forward (8*16 + 16) + (16*8 + 8); head LayerNorm 16 and 8*2 + 2.
    block = 16 + 4 * 72 + 16 + 144 + 136
    assert parameter_count(training_spec(TRANSFORMER_SMALL), TEXT, 2) == 320 + 96 + block + 34


def test_a_family_refuses_an_input_it_does_not_read():
    with pytest.raises(ValueError, match="the cnn family reads array input, not text"):
        parameter_count(training_spec(CNN_SMALL), TEXT, 2)


@pytest.mark.parametrize(("model", "network_input", "n_outputs"), TENSOR_SIZES, ids=TENSOR_SIZE_IDS)
def test_both_frameworks_build_the_stated_count_for_tensor_inputs(model, network_input, n_outputs):
    from components.tf_trainer.model import build_model, trainable_parameter_count
    from components.torch_trainer.model import Network

    training = training_spec(model)
    keras_count = trainable_parameter_count(build_model(training, network_input, n_outputs))
    torch_count = Network(training, network_input, n_outputs).parameter_count()
    assert keras_count == torch_count == parameter_count(training, network_input, n_outputs)


def keras_weights_in_torch_layout(model) -> dict[str, np.ndarray]:
    """The Keras model's weights under the torch network's state_dict keys, transposed to
    torch's layout (Dense [in, out] → [out, in]; a conv kernel [k.., c_in, c_out] →
    [c_out, c_in, k..]; an attention projection's 3-D kernel → its (d, d) matrix, Q, K, V
    stacked)."""
    weights = {w.path: w.numpy() for w in model.weights}

    def dense(name: str, key: str) -> dict[str, np.ndarray]:
        return {
            f"{key}.weight": weights[f"{name}/kernel"].T,
            f"{key}.bias": weights[f"{name}/bias"],
        }

    def norm(name: str, key: str) -> dict[str, np.ndarray]:
        return {f"{key}.weight": weights[f"{name}/gamma"], f"{key}.bias": weights[f"{name}/beta"]}

    state: dict[str, np.ndarray] = {}
    if model.name == "cnn":
        convolutions = sorted({path.split("/")[0] for path in weights if path.startswith("conv")})
        for index, name in enumerate(convolutions):
            kernel = weights[f"{name}/kernel"]
            order = (kernel.ndim - 1, kernel.ndim - 2, *range(kernel.ndim - 2))
            key = f"{1 + 3 * index}"  # after ChannelsFirst: (conv, ReLU, pool) per block
            state[f"{key}.weight"] = kernel.transpose(order)
            state[f"{key}.bias"] = weights[f"{name}/bias"]
        first_dense = 1 + 3 * len(convolutions) + 1  # after the global average pooling
        return state | dense("hidden", str(first_dense)) | dense("outputs", str(first_dense + 3))
    state["embedding.token"] = weights["embedding/token"]
    state["embedding.position"] = weights["embedding/position"]
    blocks = sorted({path.split("_")[1] for path in weights if path.startswith("block_")})
    for index in blocks:
        name, key = f"block_{index}", f"blocks.{index}"
        state |= norm(f"{name}_attention_norm", f"{key}.attention_norm")
        attention = f"{name}_attention"
        width = weights[f"{attention}/query/kernel"].shape[0]
        projections = [weights[f"{attention}/{part}/kernel"] for part in ("query", "key", "value")]
        biases = [weights[f"{attention}/{part}/bias"] for part in ("query", "key", "value")]
        mha = f"{key}.attention.attention"
        state[f"{mha}.in_proj_weight"] = np.concatenate(
            [p.reshape(width, width).T for p in projections]
        )
        state[f"{mha}.in_proj_bias"] = np.concatenate([b.reshape(width) for b in biases])
        output = weights[f"{attention}/attention_output/kernel"].reshape(width, width)
        state[f"{mha}.out_proj.weight"] = output.T
        state[f"{mha}.out_proj.bias"] = weights[f"{attention}/attention_output/bias"]
        state |= norm(f"{name}_ffn_norm", f"{key}.feed_forward.body.0")
        state |= dense(f"{name}_ffn_linear_1", f"{key}.feed_forward.body.1")
        state |= dense(f"{name}_ffn_linear_2", f"{key}.feed_forward.body.4")
    return state | norm("head_norm", "head.0") | dense("outputs", "head.2")


@pytest.mark.parametrize(("model", "network_input", "n_outputs"), TENSOR_SIZES, ids=TENSOR_SIZE_IDS)
def test_keras_and_torch_compute_the_same_function(model, network_input, n_outputs):
    import keras
    import torch

    from components.tf_trainer.model import build_model
    from components.torch_trainer.networks import build_network

    training = training_spec(model)
    keras_model = build_model(training, network_input, n_outputs)
    network = build_network(training, network_input, n_outputs).eval()
    state = keras_weights_in_torch_layout(keras_model)
    assert sorted(state) == sorted(network.state_dict())
    network.load_state_dict(
        {key: torch.from_numpy(np.ascontiguousarray(v)) for key, v in state.items()}
    )
    x = random_batch(network_input, rows=6, seed=3)
    expected = keras.ops.convert_to_numpy(keras_model({"inputs": x}, training=False))
    with torch.no_grad():
        outputs = network(torch.from_numpy(x)).numpy()
    assert outputs.shape == (6, n_outputs)
    np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)


def dataset(feature: dict) -> DatasetSpec:
    return DatasetSpec(source="data.csv", label="y", classes=["a", "b"], features=[feature])


def test_the_input_comes_from_the_spec_and_the_manifest():
    image = dataset({"name": "pixels", "type": "array", "shape": [28, 28, 1]})
    text = dataset({"name": "review", "type": "text", "vocabulary_size": 500, "max_length": 64})
    statistics = {"numeric": {}, "categorical": {}}
    manifest = {
        "statistics": statistics | {"text": {"review": {"vocabulary_size": 431, "max_length": 64}}}
    }
    assert NetworkInput.from_manifest(image, {"statistics": statistics}) == IMAGE
    assert NetworkInput.from_spec(image) == IMAGE
    assert NetworkInput.from_manifest(text, manifest) == NetworkInput.text(431, 64)
    assert NetworkInput.from_spec(text) == NetworkInput.text(500, 64)
    with pytest.raises(
        TandemError, match=r"statistics\.text has no entry for text feature 'review'"
    ):
        NetworkInput.from_manifest(text, {"statistics": statistics})
    tabular = DatasetSpec(
        source="data.csv",
        label="y",
        classes=["a", "b"],
        features=[
            {"name": "x", "type": "numeric"},
            {"name": "c", "type": "categorical", "values": ["p", "q", "r"]},
        ],
    )
    encoded = {"numeric": {"x": {}}, "categorical": {"c": {"vocabulary": ["p", "q", "r"]}}}
    assert NetworkInput.from_manifest(tabular, {"statistics": encoded}) == NetworkInput.tabular(4)
    assert NetworkInput.from_spec(tabular) == NetworkInput.tabular(4)


def test_each_kind_states_its_rows_and_builder_keywords():
    assert (IMAGE.row_shape, IMAGE.dtype, IMAGE.n_inputs) == ((28, 28, 1), "float32", 784)
    assert IMAGE.builder_keywords() == {"input_shape": (28, 28, 1)}
    assert (TEXT.row_shape, TEXT.dtype, TEXT.n_inputs) == ((12,), "int64", 12)
    assert TEXT.builder_keywords() == {"vocabulary_size": 40, "max_length": 12}
    tabular = NetworkInput.tabular(9)
    assert (tabular.row_shape, tabular.dtype, tabular.n_inputs) == ((9,), "float32", 9)
    assert tabular.builder_keywords() == {}
    with pytest.raises(ValueError, match="a text input needs max_length"):
        NetworkInput("text", vocabulary_size=40)
    with pytest.raises(ValueError, match="a tabular input takes no shape"):
        NetworkInput("tabular", width=3, shape=(3,))
