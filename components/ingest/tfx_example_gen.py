"""The TFX pipeline's ExampleGen for the shared snapshot: its Parquet files, published as TFX
examples with payload FORMAT_PARQUET, which StatisticsGen, SchemaGen, ExampleValidator and
Transform read through TFXIO (`ParquetTFXIO`) and the Trainer reads with pyarrow.

Why not hard links to the snapshot's files: TFXIO hands a Parquet file's record batches to TFDV and
tf.Transform as stored, and both take list columns only (one list of values per cell, as TFX's
tf.Example decoder presents features; TFDV raises "Expected feature column to be a
(Large)List<primitive|struct>" for a plain column). The snapshot stores one plain value per cell.
So each file is rewritten column by column with pyarrow — no per-row Python, no tf.Example —
into the list types ParquetTFXIO declares for a schema (large_list of float32, int64 or
large_binary, as a tf.Example would hold them), row order and file names kept.

A present value stays what it is: [0.0], [0], [false → 0], [""]; only a null is missing (a null
list, as an absent tf.Example feature decodes). TFX's own Parquet-to-tf.Example executor dropped
every falsy value (tensorflow/tfx#6407). An array feature's list column becomes the float list of
its values, as a tf.Example holds a fixed-length float feature.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.common.errors import TandemError
from components.ingest.array_columns import is_list_type

PAYLOAD_FORMAT = example_gen_pb2.PayloadFormat.FORMAT_PARQUET
FILE_FORMAT = example_gen_pb2.FileFormat.FILE_FORMAT_PARQUET
READ_BATCH_ROWS = 65_536


def _feature_values(name: str, column: pa.Array) -> pa.Array:
    """A column as the values a tf.Example feature holds: float32, int64 or bytes."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _feature_values(name, column.dictionary_decode())
    if pa.types.is_floating(kind):
        return pc.cast(column, pa.float32())
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return pc.cast(column, pa.int64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        return pc.cast(column, pa.large_binary())
    raise TandemError(
        f"snapshot column {name!r} has type {kind}, which TFX examples cannot hold: ingest "
        "writes numeric and string columns only"
    )


def _float_lists(name: str, column: pa.Array) -> pa.Array:
    """A list column (an array feature) as the float lists of its values."""
    kind = column.type.value_type
    if not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        raise TandemError(
            f"snapshot column {name!r} has type {column.type}, which TFX examples cannot hold: "
            "ingest writes lists of float32 only"
        )
    return pc.cast(column, pa.large_list(pa.float32()))


def as_feature_lists(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Each column as a large_list column: [value] for a present value, a null list for a null;
    a list column keeps its values."""
    lists = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if is_list_type(column.type):
            lists.append(_float_lists(name, column))
            continue
        values = _feature_values(name, column)
        present = pc.is_valid(values)
        offsets = np.concatenate([[0], np.cumsum(present.to_numpy(zero_copy_only=False))])
        lists.append(
            pa.LargeListArray.from_arrays(
                pa.array(offsets.astype(np.int64)), values.drop_null(), mask=pc.invert(present)
            )
        )
    return pa.RecordBatch.from_arrays(lists, names=batch.schema.names)


def publish_file(source: str, destination: str) -> None:
    """Rewrite one snapshot Parquet file as TFX Parquet examples (list columns), batch by batch.

    Paths may be URIs (gs://, s3://): pyarrow infers their filesystem."""
    reader = pq.ParquetFile(source)
    writer = None
    for batch in reader.iter_batches(batch_size=READ_BATCH_ROWS):
        lists = as_feature_lists(batch)
        writer = writer or pq.ParquetWriter(destination, lists.schema)
        writer.write_batch(lists)
    if writer is None:  # a file without rows still gets its (list) schema
        empty = pa.RecordBatch.from_pylist([], schema=reader.schema_arrow)
        writer = pq.ParquetWriter(destination, as_feature_lists(empty).schema)
    writer.close()


def publish_split(pattern: str, split_dir: str) -> None:
    """Publish every file matching `pattern` into split_dir."""
    sources = sorted(fileio.glob(pattern))
    if not sources:
        raise TandemError(f"no snapshot files match {pattern}")
    fileio.makedirs(split_dir)
    for source in sources:
        publish_file(source, os.path.join(split_dir, os.path.basename(source)))


class SnapshotExampleGenExecutor(base_executor.BaseExecutor):
    """FileBasedExampleGen's executor over the snapshot's `<split>/*.parquet` files: one output
    split per input split (no re-splitting, no shuffle: ingest has split the rows already)."""

    def Do(
        self,
        input_dict: dict[str, list],
        output_dict: dict[str, list],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        declared = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if declared != PAYLOAD_FORMAT:
            raise TandemError(
                "SnapshotExampleGenExecutor writes Parquet examples only: declare "
                "output_data_format=FORMAT_PARQUET on the ExampleGen"
            )
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        names = [split.name for split in input_config.splits]
        examples.split_names = artifact_utils.encode_split_names(names)
        for split in input_config.splits:
            publish_split(
                os.path.join(input_base, split.pattern),
                artifact_utils.get_split_uri([examples], split.name),
            )
        examples_utils.set_payload_format(examples, PAYLOAD_FORMAT)
        examples_utils.set_file_format(examples, example_gen_pb2.FileFormat.Name(FILE_FORMAT))
