"""A custom pair's torch side: the user's module is checked before anything trains, then
trained as returned (its builder's initialisation kept), logged, exported and served."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from components.common.architectures import NetworkInput
from components.common.errors import TandemError
from components.common.layer_summary import ARTIFACT as ARCHITECTURE_ARTIFACT
from components.common.tracking import tracking_uri
from components.export import load_predictor
from components.spec import TrainingSpec
from components.torch_trainer.checkpoint import LAST_CHECKPOINT
from components.torch_trainer.model import Network
from components.torch_trainer.train import main
from tests.components import torch_builders
from tests.components.model_families import PENGUINS_INPUT, TEXT, random_batch
from tests.components.torch_trainer.test_torch_train import train_argv

BUILDERS = "tests.components.torch_builders"
TWO_LAYERS = (9 * 8 + 8) + (8 * 3 + 3)


def custom(builder: str, **params) -> dict:
    return {
        "family": "custom",
        "tensorflow": "tests.components.keras_builders:two_layers",
        "pytorch": f"{BUILDERS}:{builder}",
        "params": params,
    }


def network(builder: str, **params) -> Network:
    return Network(TrainingSpec(model=custom(builder, **params)), PENGUINS_INPUT, 3)


def test_the_users_module_is_trained_as_its_builder_initialised_it():
    built = network("constant_weights")
    assert built.parameter_count() == TWO_LAYERS
    for parameter in built.network.parameters():
        assert torch.all(parameter == torch_builders.CONSTANT)
    assert built.training  # the probe ran in eval mode and put it back
    assert built(torch.zeros(5, 9)).shape == (5, 3)


@pytest.mark.parametrize(
    ("builder", "network_input", "count"),
    [
        ("image_pair", NetworkInput.array([6, 5, 2]), (60 * 6 + 6) + (6 * 3 + 3)),
        ("text_pair", TEXT, 40 * 6 + (6 * 3 + 3)),
    ],
)
def test_an_array_or_text_builder_gets_its_input_described(builder, network_input, count):
    """image_pair needs input_shape, text_pair vocabulary_size and max_length: both are passed,
    and the module takes the input's batch (float32 [batch, *shape] / int64 token ids)."""
    built = Network(TrainingSpec(model=custom(builder, width=6)), network_input, 3)
    assert built.parameter_count() == count
    assert built(torch.from_numpy(random_batch(network_input, rows=5))).shape == (5, 3)


def test_a_lazy_module_is_materialised_by_the_probe():
    assert network("lazy").parameter_count() == TWO_LAYERS


def test_frozen_parameters_are_not_counted():
    assert network("two_layers").parameter_count() == TWO_LAYERS
    with pytest.raises(TandemError, match=r"the network has no trainable parameters$"):
        network("frozen")


@pytest.mark.parametrize(
    ("builder", "problem"),
    [
        ("a_function", "returned a function, expected a torch.nn.Module"),
        (
            "one_output_too_many",
            "the network maps a probe batch of shape (4, 9) to shape (4, 4), expected (4, 3)",
        ),
        ("wrong_input_width", "the network fails on a probe batch: RuntimeError: "),
        ("frozen", "the network has no trainable parameters"),
        ("NOT_CALLABLE", "'NOT_CALLABLE' is not callable (type int)"),
    ],
)
def test_a_bad_builder_fails_the_build_with_one_line(builder, problem):
    with pytest.raises(TandemError) as raised:
        network(builder)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"training.model.pytorch: {BUILDERS}:{builder}: {problem}")


def custom_spec(tiny_spec: Path, tmp_path: Path, builder: str, **params) -> Path:
    document = yaml.safe_load(tiny_spec.read_text())
    document["training"]["epochs"] = 1
    document["training"]["model"] = custom(builder, **params)
    spec = tmp_path / "custom.yaml"
    spec.write_text(yaml.safe_dump(document))
    return spec


def test_a_bad_builder_stops_the_trainer_with_one_line_before_training(
    tiny_spec, penguins_snapshot, tmp_path, capsys
):
    spec = custom_spec(tiny_spec, tmp_path, "one_output_too_many")
    assert main(train_argv(spec, penguins_snapshot, tmp_path)) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: training.model.pytorch: {BUILDERS}:one_output_too_many: ")
    assert "to shape (4, 4), expected (4, 3)" in line
    assert not (tmp_path / "checkpoints" / LAST_CHECKPOINT).exists()
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_a_custom_pair_trains_logs_its_architecture_and_exports(
    tiny_spec, penguins_snapshot, tmp_path
):
    spec = custom_spec(tiny_spec, tmp_path, "constant_weights", width=8)
    assert main(train_argv(spec, penguins_snapshot, tmp_path)) == 0
    client = MlflowClient(tracking_uri(tmp_path / "runs"))
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.data.params["model"] == (
        "custom(tensorflow=tests.components.keras_builders:two_layers, "
        f"pytorch={BUILDERS}:constant_weights, width=8)"
    )
    assert run.data.params["parameter_count"] == str(TWO_LAYERS)
    architecture = Path(client.download_artifacts(run.info.run_id, ARCHITECTURE_ARTIFACT))
    lines = architecture.read_text().splitlines()
    assert lines[1] == f"trainable parameters: {TWO_LAYERS}"
    assert [line.split()[:3] for line in lines[4:]] == [
        ["0", "Linear", "8"],
        ["1", "GELU", "8"],
        ["2", "Linear", "3"],
    ]
    test_rows = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    probabilities = load_predictor(tmp_path / "model", "pytorch").predict(test_rows)
    assert probabilities.shape == (44, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
