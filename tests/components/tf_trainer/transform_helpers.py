"""tf.Transform's Beam implementation as TFX's Transform component runs it, for the tests.

A pinned local runner (FnApiRunner: no download, no network) analyzes the train split and
transforms every split: the transform graph with its raw metadata, and each split's
transformed tf.Examples as gzipped TFRecords.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from components.spec import Spec


def raw_feature_spec(spec: Spec, shape: list[int]) -> dict:
    """Parsing spec of the raw columns (features and label), dense with the given shape."""
    import tensorflow as tf

    columns = {
        f.name: tf.float32 if f.type == "numeric" else tf.string for f in spec.dataset.features
    }
    columns[spec.dataset.label] = tf.string
    return {name: tf.io.FixedLenFeature(shape, dtype) for name, dtype in columns.items()}


def instances(table: pa.Table, feature_spec: dict) -> list[dict]:
    """Rows as tf.Transform instance dicts (a value per column; a 1-list for shape [1])."""
    rows = table.select(list(feature_spec)).to_pylist()
    wrap = {name: list(spec.shape) == [1] for name, spec in feature_spec.items()}
    return [{k: [v] if wrap[k] else v for k, v in row.items()} for row in rows]


def analyze_and_transform(
    preprocessing_fn, feature_spec: dict, splits: dict[str, pa.Table], out_dir: Path
) -> None:
    """Analyze the "train" table and transform every table, as TFX's Transform does: the
    transform graph (with raw metadata) goes to out_dir/transform, each split's tf.Examples to
    out_dir/<split>/."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(feature_spec))
    with (
        beam.Pipeline(runner=FnApiRunner()) as pipeline,
        tft_beam.Context(temp_dir=str(out_dir / "tmp")),
    ):
        raw = {
            split: pipeline | f"Create{split}" >> beam.Create(instances(table, feature_spec))
            for split, table in splits.items()
        }
        transform_fn = (raw["train"], metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(out_dir / "transform"))
        for split, rows in raw.items():
            data, out_metadata = ((rows, metadata), transform_fn) | f"Transform{split}" >> (
                tft_beam.TransformDataset()
            )
            coder = tft.coders.ExampleProtoCoder(out_metadata.schema)
            _ = (
                data
                | f"Encode{split}" >> beam.Map(coder.encode)
                | f"Write{split}"
                >> beam.io.WriteToTFRecord(str(out_dir / split / "data"), file_name_suffix=".gz")
            )
    raw_metadata_dir = out_dir / "transform" / tft.TFTransformOutput.RAW_METADATA_DIR
    metadata_io.write_metadata(metadata, str(raw_metadata_dir))
