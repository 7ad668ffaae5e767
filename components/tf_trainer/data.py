"""The Trainer's data: a split's Parquet examples read into memory and run once through the
transform graph, as the numpy arrays Keras `fit` takes.

ExampleGen publishes Parquet examples (`components.ingest.tfx_example_gen`), for which TFXIO has
no `TensorFlowDataset` (ParquetTFXIO raises NotImplementedError), and Transform materializes
nothing. So the raw split is read with pyarrow, file by file in record batches; ParquetTFXIO's
TensorAdapter, built from the schema the graph was analyzed with, turns each batch into the raw
tensors Transform fed the graph (dense or sparse, as that schema says), and
`TFTransformOutput.transform_raw_features` applies the graph — the same graph the export serves.

Memory: the whole transformed split stays in memory — rows x n_inputs x 4 bytes of float32
inputs plus rows x 8 bytes of int64 labels (1M train rows x 27 inputs: ~108 MB + 8 MB); one raw
record batch (READ_BATCH_ROWS rows) at a time on top.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import tensorflow_transform as tft
from tfx.dsl.io import fileio
from tfx_bsl.tfxio import parquet_tfxio

from components.common.errors import TandemError
from components.spec import DatasetSpec
from components.tf_trainer.config import INPUTS, LABEL
from components.tf_trainer.training import SplitArrays

READ_BATCH_ROWS = 65_536


def split_files(file_patterns: list[str]) -> list[str]:
    """The files of a split's patterns (TFX hands the Trainer `<split uri>/*`), sorted."""
    files = sorted(path for pattern in file_patterns for path in fileio.glob(pattern))
    if not files:
        raise TandemError(f"no example files match {file_patterns}")
    return files


def read_split(
    file_patterns: list[str], tf_transform_output: tft.TFTransformOutput, dataset: DatasetSpec
) -> SplitArrays:
    """The split's rows, in file order, transformed: inputs [rows, n_inputs], labels [rows]."""
    columns = [*(f.name for f in dataset.features), dataset.label]
    tfxio = parquet_tfxio.ParquetTFXIO(
        file_patterns, schema=tf_transform_output.raw_metadata.schema
    ).Project(columns)
    adapter, arrow_schema = tfxio.TensorAdapter(), tfxio.ArrowSchema()
    inputs, labels = [], []
    for path in split_files(file_patterns):
        for batch in pq.ParquetFile(path).iter_batches(READ_BATCH_ROWS, columns=columns):
            tensors = adapter.ToBatchTensors(batch.select(arrow_schema.names))
            transformed = tf_transform_output.transform_raw_features(tensors)
            inputs.append(transformed[INPUTS].numpy())
            labels.append(transformed[LABEL].numpy())
    return SplitArrays(inputs=np.concatenate(inputs), labels=np.concatenate(labels))
