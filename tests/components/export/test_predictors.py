"""Predictor adapters: tiny real models of both frameworks → probabilities, per the contract."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.errors import TandemError
from components.common.features import label_indices
from components.export import (
    ENCODING_FILE,
    PT2_FILE,
    TORCHSCRIPT_FILE,
    encoding_document,
    load_predictor,
)
from tests.components.evaluate.tiny_models import train_tiny_keras, train_tiny_torch

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def keras_dir(penguins_snapshot, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("keras") / "model"
    return train_tiny_keras(penguins_snapshot.snapshot_dir, penguins_snapshot.manifest, out)


@pytest.fixture(scope="module")
def torch_dir(penguins_snapshot, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("torch") / "model"
    return train_tiny_torch(penguins_snapshot.snapshot_dir, penguins_snapshot.manifest, out)


@pytest.fixture(scope="module")
def test_rows(penguins_snapshot) -> pa.Table:
    return pq.read_table(penguins_snapshot.snapshot_dir / "test")


@pytest.fixture
def model_dirs(keras_dir, torch_dir) -> dict[str, Path]:
    return {"tensorflow": keras_dir, "pytorch": torch_dir}


@pytest.mark.e2e
@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_probabilities_on_the_test_split(framework, model_dirs, test_rows, penguins_snapshot):
    predictor = load_predictor(model_dirs[framework], framework)
    assert predictor.framework == framework
    assert predictor.format == {"tensorflow": "saved_model", "pytorch": "pt2"}[framework]
    probabilities = predictor.predict(test_rows)
    assert probabilities.shape == (44, 3)
    assert probabilities.dtype == np.float64
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    accuracy = (
        probabilities.argmax(axis=1) == label_indices(test_rows, penguins_snapshot.manifest)
    ).mean()
    assert accuracy > 0.5  # chance is 1/3, the majority class ~0.45
    np.testing.assert_array_equal(predictor.predict(test_rows), probabilities)


@pytest.mark.e2e
@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_single_rows_and_empty_tables(framework, model_dirs, test_rows):
    predictor = load_predictor(model_dirs[framework], framework)
    whole = predictor.predict(test_rows)
    for row in (0, 43):
        np.testing.assert_allclose(
            predictor.predict(test_rows.slice(row, 1)), whole[row : row + 1], atol=1e-6
        )
    assert predictor.predict(test_rows.slice(0, 0)).shape == (0, 3)


@pytest.mark.e2e
@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_missing_values_mean_the_train_mean_and_no_category(
    framework, model_dirs, test_rows, penguins_snapshot
):
    """Both sides read a null number as the train mean and a null category as an unseen one."""
    mean = penguins_snapshot.manifest["statistics"]["numeric"]["bill_length_mm"]["mean"]
    rows = test_rows.slice(0, 3)
    nulls = rows.set_column(
        rows.schema.get_field_index("bill_length_mm"),
        "bill_length_mm",
        pa.array([None, None, None], pa.float64()),
    )
    nulls = nulls.set_column(
        nulls.schema.get_field_index("sex"), "sex", pa.array([None, None, None], pa.string())
    )
    stand_ins = rows.set_column(
        rows.schema.get_field_index("bill_length_mm"), "bill_length_mm", pa.array([mean] * 3)
    )
    stand_ins = stand_ins.set_column(
        stand_ins.schema.get_field_index("sex"), "sex", pa.array(["unknown"] * 3)
    )
    predictor = load_predictor(model_dirs[framework], framework)
    with_nulls = predictor.predict(nulls)
    assert np.isfinite(with_nulls).all()
    np.testing.assert_allclose(with_nulls, predictor.predict(stand_ins), atol=1e-6)
    assert not np.allclose(with_nulls, predictor.predict(rows), atol=1e-6)


@pytest.mark.e2e
def test_tensorflow_predictor_equals_the_signature(keras_dir, test_rows):
    import tensorflow as tf

    signature = tf.saved_model.load(str(keras_dir)).signatures["serving_default"]
    numeric = {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"}
    inputs = {
        name: tf.constant(np.asarray(test_rows.column(name).to_pylist(), np.float32))
        if name in numeric
        else tf.constant(test_rows.column(name).to_pylist())
        for name in [*numeric, "island", "sex"]
    }
    direct = signature(**inputs)["probabilities"].numpy().astype(np.float64)
    predicted = load_predictor(keras_dir, "tensorflow").predict(test_rows)
    np.testing.assert_allclose(predicted, direct, rtol=0, atol=1e-7)


@pytest.mark.e2e
@pytest.mark.parametrize("pt2", ["deleted", "corrupt"])
def test_pytorch_falls_back_to_torchscript(pt2, torch_dir, test_rows, tmp_path):
    expected = load_predictor(torch_dir, "pytorch").predict(test_rows)
    model_dir = shutil.copytree(torch_dir, tmp_path / "model")
    if pt2 == "deleted":
        (model_dir / PT2_FILE).unlink()
    else:
        (model_dir / PT2_FILE).write_bytes(b"not a zip archive")
    predictor = load_predictor(model_dir, "pytorch")
    assert predictor.format == "torchscript"
    assert PT2_FILE in predictor.fallback_reason
    np.testing.assert_allclose(predictor.predict(test_rows), expected, rtol=0, atol=1e-6)


@pytest.mark.e2e
@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_rows_without_a_feature_column_are_refused(framework, model_dirs, test_rows):
    predictor = load_predictor(model_dirs[framework], framework)
    with pytest.raises(TandemError, match="island") as raised:
        predictor.predict(test_rows.drop_columns(["island"]))
    assert str(model_dirs[framework]) in str(raised.value)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("framework", "other", "module"),
    [("pytorch", "tensorflow", "torch"), ("tensorflow", "torch", "tensorflow")],
)
def test_loading_one_framework_does_not_import_the_other(
    framework, other, module, model_dirs, penguins_snapshot
):
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import pyarrow.parquet as pq\n"
        "from components.export import load_predictor\n"
        "predictor = load_predictor(Path(sys.argv[1]), sys.argv[2])\n"
        "shape = predictor.predict(pq.read_table(sys.argv[3])).shape\n"
        "print(json.dumps({'shape': shape, 'modules': sorted(sys.modules)}))\n"
    )
    test_split = penguins_snapshot.snapshot_dir / "test"
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_dirs[framework]), framework, str(test_split)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["shape"] == [44, 3]
    assert module in report["modules"]
    assert other not in report["modules"]


@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_a_missing_model_dir_is_named(framework, tmp_path):
    absent = tmp_path / "no-such-model"
    with pytest.raises(TandemError, match="does not exist") as raised:
        load_predictor(absent, framework)
    assert str(absent) in str(raised.value)


def test_an_unknown_framework_is_refused(tmp_path):
    with pytest.raises(TandemError, match="jax"):
        load_predictor(tmp_path, "jax")


def test_an_empty_dir_is_not_a_saved_model(tmp_path):
    with pytest.raises(TandemError, match=re.escape("saved_model.pb")) as raised:
        load_predictor(tmp_path, "tensorflow")
    assert str(tmp_path) in str(raised.value)


def _save_module(path: Path, signature_name: str, output_key: str) -> Path:
    import tensorflow as tf

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve(self, x):
            return {output_key: tf.stack([x, 1 - x], axis=1)}

    module = Doubler()
    tf.saved_model.save(module, str(path), signatures={signature_name: module.serve})
    return path


def test_a_saved_model_without_serving_default_is_refused(tmp_path):
    model_dir = _save_module(tmp_path / "model", "predict", "probabilities")
    with pytest.raises(TandemError, match="serving_default") as raised:
        load_predictor(model_dir, "tensorflow")
    assert str(model_dir) in str(raised.value)
    assert "predict" in str(raised.value)


def test_a_signature_without_probabilities_is_refused(tmp_path):
    model_dir = _save_module(tmp_path / "model", "serving_default", "logits")
    with pytest.raises(TandemError, match="probabilities") as raised:
        load_predictor(model_dir, "tensorflow")
    assert str(model_dir) in str(raised.value)


def test_a_contract_conform_signature_loads(tmp_path):
    """The refusals above are about the named defect, not about small SavedModels in general."""
    predictor = load_predictor(
        _save_module(tmp_path / "m", "serving_default", "probabilities"), "tensorflow"
    )
    probabilities = predictor.predict(pa.table({"x": [0.25, None]}))
    np.testing.assert_allclose(probabilities[0], [0.25, 0.75])
    assert np.isnan(probabilities[1]).all()


def test_a_pytorch_dir_without_encoding_is_refused(tmp_path):
    with pytest.raises(TandemError, match=re.escape(ENCODING_FILE)) as raised:
        load_predictor(tmp_path, "pytorch")
    assert str(tmp_path) in str(raised.value)


def test_a_pytorch_dir_without_model_files_is_refused(tmp_path, penguins_snapshot):
    (tmp_path / ENCODING_FILE).write_text(json.dumps(encoding_document(penguins_snapshot.manifest)))
    with pytest.raises(TandemError) as raised:
        load_predictor(tmp_path, "pytorch")
    message = str(raised.value)
    assert str(tmp_path) in message
    assert PT2_FILE in message
    assert TORCHSCRIPT_FILE in message


def test_an_encoding_that_disagrees_with_its_statistics_is_refused(tmp_path, penguins_snapshot):
    encoding = encoding_document(penguins_snapshot.manifest)
    encoding["input_names"] = encoding["input_names"][::-1]
    (tmp_path / ENCODING_FILE).write_text(json.dumps(encoding))
    with pytest.raises(TandemError, match="input_names") as raised:
        load_predictor(tmp_path, "pytorch")
    assert str(tmp_path) in str(raised.value)
