"""What the TFX pipeline's ExampleGen, SchemaGen and Transform make of a snapshot, for the tests.

The snapshot's splits are published as Parquet examples by the pipeline's own ExampleGen code;
the schema is TFDV's inference over the train split (what SchemaGen does); tf.Transform's Beam
implementation analyzes the train split read through ParquetTFXIO, as the Transform component
does with `materialize=False`, on a pinned local runner (FnApiRunner: no download, no network).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from components.ingest.tfx_example_gen import publish_split

SPLITS = ("train", "eval", "test")


def publish_snapshot(snapshot_dir: Path, examples_dir: Path) -> dict[str, list[str]]:
    """Each split as ExampleGen publishes it; split → the file patterns TFX hands the Trainer."""
    patterns = {}
    for split in SPLITS:
        split_dir = examples_dir / f"Split-{split}"
        publish_split(str(snapshot_dir / split / "*.parquet"), str(split_dir))
        patterns[split] = [str(split_dir / "*")]
    return patterns


def analyze(preprocessing_fn, train_examples_dir: Path, out_dir: Path) -> Path:
    """The transform graph (with its raw metadata) of preprocessing_fn over the published train
    split, written to out_dir/transform; returns that directory."""
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
    from tfx_bsl.tfxio import parquet_tfxio, tensor_adapter

    table = pq.read_table(train_examples_dir)
    statistics = generate_statistics_in_memory(table.combine_chunks().to_batches()[0])
    schema = tfdv.infer_schema(statistics)
    tfxio = parquet_tfxio.ParquetTFXIO(str(train_examples_dir / "*"), schema=schema)
    adapter_config = tensor_adapter.TensorAdapterConfig(
        tfxio.ArrowSchema(), tfxio.TensorRepresentations()
    )
    transform_dir = out_dir / "transform"
    with (
        beam.Pipeline(runner=FnApiRunner()) as pipeline,
        tft_beam.Context(temp_dir=str(out_dir / "tmp")),
    ):
        batches = pipeline | "Read" >> tfxio.BeamSource()
        transform_fn = (batches, adapter_config) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        str(transform_dir / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    return transform_dir
