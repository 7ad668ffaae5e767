"""The classifier: the spec's model family, its initialisation, optimizer settings, compile mode
and export."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from components.common import architectures
from components.common.architectures import NetworkInput
from components.common.features import encode, input_names
from components.export import TORCHSCRIPT_FILE, load_predictor
from components.spec import default_spec_path, load_spec
from components.torch_trainer.export import export_model
from components.torch_trainer.model import EpochSums, Network, make_optimizer
from components.torch_trainer.networks import FeatureTokenizer
from tests.components.model_families import SIZE_IDS, SIZES, SMALL, training_spec


def penguins_training(**changes):
    return load_spec(default_spec_path()).spec.training.model_copy(update=changes)


def penguins_classifier(manifest: dict, **changes) -> Network:
    training = penguins_training(**changes)
    return Network.from_spec(training, NetworkInput.tabular(len(input_names(manifest))), manifest)


def test_penguins_parameter_count_matches_the_keras_count(penguins_snapshot):
    manifest = penguins_snapshot.manifest
    assert len(input_names(manifest)) == 9
    model = penguins_classifier(manifest)
    # (9*16 + 16) + (16*8 + 8) + (8*3 + 3): weights and biases per layer, as Keras counts them.
    assert model.parameter_count() == 323
    assert model(torch.zeros(5, 9)).shape == (5, 3)


def test_optimizer_settings_come_from_the_spec():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    adam = make_optimizer(penguins_training(), parameters)
    assert isinstance(adam, torch.optim.Adam)
    assert adam.defaults["eps"] == 1e-7  # Keras' default, not torch's 1e-8
    assert adam.defaults["lr"] == 0.01
    sgd = make_optimizer(penguins_training(optimizer="sgd"), parameters)
    assert isinstance(sgd, torch.optim.SGD)


def classifier(model: dict, hidden_sizes: list[int], n_inputs: int, n_classes: int) -> Network:
    torch.manual_seed(0)
    return Network(training_spec(model, hidden_sizes), NetworkInput.tabular(n_inputs), n_classes)


@pytest.mark.parametrize(("model", "hidden_sizes", "n_inputs", "n_classes"), SIZES, ids=SIZE_IDS)
def test_each_family_has_the_shared_parameter_count_and_returns_logits(
    model, hidden_sizes, n_inputs, n_classes
):
    network = classifier(model, hidden_sizes, n_inputs, n_classes)
    training, network_input = network.training_spec, network.network_input
    expected = architectures.parameter_count(training, network_input, n_classes)
    assert network.parameter_count() == expected
    assert network(torch.randn(5, n_inputs)).shape == (5, n_classes)


def assert_glorot_uniform(weight: torch.Tensor) -> None:
    """Within ±sqrt(6 / (fan_in + fan_out)) of the matrix's own fans, and spread over it."""
    fan_out, fan_in = weight.shape
    limit = math.sqrt(6 / (fan_in + fan_out))
    largest = weight.abs().max().item()
    assert 0.75 * limit < largest <= limit, (tuple(weight.shape), largest, limit)


@pytest.mark.parametrize(("model", "hidden_sizes", "n_inputs", "n_classes"), SIZES, ids=SIZE_IDS)
def test_each_family_is_initialised_by_the_shared_contract(
    model, hidden_sizes, n_inputs, n_classes
):
    network = classifier(model, hidden_sizes, n_inputs, n_classes).network
    seen = set()
    for module in network.modules():
        if isinstance(module, nn.Linear):
            assert_glorot_uniform(module.weight)
            assert torch.count_nonzero(module.bias) == 0
        elif isinstance(module, nn.MultiheadAttention):
            for projection in module.in_proj_weight.chunk(3):  # Q, K, V: each its own matrix
                assert_glorot_uniform(projection)
            assert torch.count_nonzero(module.in_proj_bias) == 0
        elif isinstance(module, nn.LayerNorm):
            assert module.eps == architectures.LAYER_NORM_EPSILON == 1e-5
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.count_nonzero(module.bias) == 0
        elif isinstance(module, FeatureTokenizer):
            bound = 1 / math.sqrt(model["params"]["d_token"])
            for parameter in (module.weight, module.bias, module.cls):
                assert 0.5 * bound < parameter.abs().max().item() <= bound
        seen.add(type(module))
    expected = {
        "mlp": {nn.Linear},
        "resnet": {nn.Linear, nn.LayerNorm},
        "ft_transformer": {nn.Linear, nn.LayerNorm, nn.MultiheadAttention, FeatureTokenizer},
    }
    assert expected[model["family"]] <= seen


@pytest.mark.parametrize("family", list(SMALL))
def test_compile_mode_keeps_the_eager_state_dict_keys(family):
    eager = classifier(SMALL[family], [16, 8], 9, 3)
    compiled = Network(eager.training_spec, eager.network_input, eager.n_outputs, "compile")
    assert list(compiled.state_dict()) == list(eager.state_dict())


@pytest.mark.parametrize(("model", "hidden_sizes", "n_inputs", "n_classes"), SIZES, ids=SIZE_IDS)
def test_inference_module_outputs_probabilities_with_the_trained_weights(
    model, hidden_sizes, n_inputs, n_classes
):
    network = classifier(model, hidden_sizes, n_inputs, n_classes).eval()  # as after training
    x = torch.randn(4, n_inputs)
    probabilities = network.inference_module()(x)
    torch.testing.assert_close(probabilities, torch.softmax(network(x), dim=1))
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(4))


@pytest.mark.parametrize("family", ["resnet", "ft_transformer"])
def test_export_predicts_the_inference_module_probabilities(family, penguins_snapshot, tmp_path):
    manifest = penguins_snapshot.manifest
    network = classifier(SMALL[family], [16, 8], len(input_names(manifest)), 3)
    module = network.inference_module()
    export_model(module, network.network_input, manifest, tmp_path, penguins_snapshot.snapshot_dir)
    rows = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    x = torch.from_numpy(encode(rows, manifest))
    with torch.inference_mode():
        expected = module(x).numpy()
        torchscript = torch.jit.load(str(tmp_path / TORCHSCRIPT_FILE))(x).numpy()
    predictor = load_predictor(tmp_path, "pytorch")
    assert predictor.format == "pt2"
    np.testing.assert_allclose(predictor.predict(rows), expected, atol=1e-6)
    np.testing.assert_allclose(predictor.predict(rows.slice(0, 1)), expected[:1], atol=1e-6)
    np.testing.assert_allclose(torchscript, expected, atol=1e-6)


def test_epoch_sums_weight_each_batch_by_its_rows():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.5, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])
    sums = EpochSums()
    for rows in (slice(0, 3), slice(3, 4)):  # batches of 3 rows and 1 row
        sums.add(F.cross_entropy(logits[rows], labels[rows]), logits[rows], labels[rows])
    means = sums.means("train")
    torch.testing.assert_close(means["train_loss"], F.cross_entropy(logits, labels))
    assert means["train_accuracy"].item() == 0.5
    sums.reset()
    sums.add(F.cross_entropy(logits[:1], labels[:1]), logits[:1], labels[:1])
    assert sums.means("val")["val_accuracy"].item() == 1.0


def test_epoch_sums_over_more_batches_than_they_keep_pending():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(EpochSums.PENDING_BATCHES * 2 + 5, 3, generator=generator)
    labels = torch.randint(0, 3, (len(logits),), generator=generator)
    sums = EpochSums()
    for row in range(len(logits)):  # one-row batches: some reduced on the way, the rest at the end
        rows = slice(row, row + 1)
        sums.add(F.cross_entropy(logits[rows], labels[rows]), logits[rows], labels[rows])
    means = sums.means("train")
    torch.testing.assert_close(means["train_loss"], F.cross_entropy(logits, labels))
    expected = (logits.argmax(dim=1) == labels).double().mean()
    assert means["train_accuracy"].item() == pytest.approx(expected.item())
