"""The exported SavedModel meets the evaluator's contract (components.export)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.common.errors import TandemError
from components.export import OUTPUT, load_predictor
from components.tf_trainer.export import TF_EXAMPLE_SIGNATURE, check_export, export_serving_model
from components.tf_trainer.training import fit_model
from tests.components.model_families import PENGUINS_INPUT


@pytest.fixture(scope="module")
def exported(penguins_spec, encoded_train, transform_run, tmp_path_factory):
    result = fit_model(
        encoded_train,
        None,
        PENGUINS_INPUT,
        3,
        penguins_spec.training,
        seed=0,
        epochs=3,
        task="classification",
    )
    output = tft.TFTransformOutput(str(transform_run.transform_dir))
    out_dir = tmp_path_factory.mktemp("tf-export") / "model"
    return export_serving_model(result.model, output, penguins_spec.dataset, out_dir)


def serialized_examples(table: pa.Table, spec) -> list[bytes]:
    examples = []
    for row in table.to_pylist():
        feature = {}
        for f in spec.dataset.features:
            if f.type == "numeric":
                feature[f.name] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=[row[f.name]])
                )
            else:
                value = row[f.name].encode()
                feature[f.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        examples.append(example.SerializeToString())
    return examples


def test_export_satisfies_the_evaluator_contract(exported, penguins_snapshot):
    test = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    probabilities = load_predictor(exported, "tensorflow").predict(test)
    assert probabilities.shape == (44, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    labels = [
        penguins_snapshot.manifest["classes"].index(s) for s in test.column("species").to_pylist()
    ]
    assert (probabilities.argmax(axis=1) == np.array(labels)).mean() > 0.6


def test_tf_example_signature_agrees_with_serving_default(
    exported, penguins_snapshot, penguins_spec
):
    test = pq.read_table(penguins_snapshot.snapshot_dir / "test")
    predictor = load_predictor(exported, "tensorflow")
    serving = tf.saved_model.load(str(exported)).signatures[TF_EXAMPLE_SIGNATURE]
    examples = tf.constant(serialized_examples(test, penguins_spec))
    from_examples = serving(examples=examples)[OUTPUT].numpy()
    np.testing.assert_allclose(from_examples, predictor.predict(test), atol=1e-6)


def test_missing_values_are_served(exported, penguins_snapshot):
    """A null number (NaN to the signature) and a null category ("") still give probabilities."""
    rows = pq.read_table(penguins_snapshot.snapshot_dir / "test").slice(0, 2).to_pylist()
    rows[0]["body_mass_g"] = None
    rows[1]["island"] = None
    probabilities = load_predictor(exported, "tensorflow").predict(pa.Table.from_pylist(rows))
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_check_export_accepts_a_good_export_and_names_a_bad_one(exported, penguins_spec):
    check_export(exported, penguins_spec.dataset)
    four_classes = penguins_spec.dataset.model_copy(
        update={"classes": [*penguins_spec.dataset.classes, "Emperor"]}
    )
    with pytest.raises(TandemError, match=r"shape \(2, 4\)"):
        check_export(exported, four_classes)
