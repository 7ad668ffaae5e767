"""The TFX pipeline's ExampleGen executor for the shared snapshot: Parquet record batches →
serialized tf.Examples, one C++ encoder call (tfx_bsl) per batch.

TFX's own Parquet executor converts row by row through `dict_to_example`, which writes an empty
feature for every falsy value (tensorflow/tfx#6407): a real 0.0, an integer 0, a false or an
empty string reached TFX as a missing value — tf.Transform's statistics skipped it, the model saw
the train mean, and a column that is 0.0 in every row of a split was "dropped" by the validation
gate. Here a present value stays what it is; only a null becomes an empty list.
"""

from __future__ import annotations

import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import standard_component_specs

from components.common.errors import TandemError


def _feature_values(name: str, column: pa.Array) -> pa.Array:
    """A column in a type tf.Example holds: float32, int64 or bytes."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _feature_values(name, column.dictionary_decode())
    if pa.types.is_floating(kind):
        return pc.cast(column, pa.float32())
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return pc.cast(column, pa.int64())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        return pc.cast(column, pa.binary())
    raise TandemError(
        f"snapshot column {name!r} has type {kind}, which tf.Example cannot hold: ingest writes "
        "numeric and string columns only"
    )


def as_feature_lists(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Each column as a list column: [value] for a present value, [] for a null."""
    lists = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        values = _feature_values(name, column)
        present = pc.is_valid(values).to_numpy(zero_copy_only=False)
        offsets = np.concatenate([[0], np.cumsum(present)]).astype(np.int32)
        lists.append(pa.ListArray.from_arrays(pa.array(offsets), values.drop_null()))
    return pa.RecordBatch.from_arrays(lists, names=batch.schema.names)


def encode_examples(rows: pa.Table | pa.RecordBatch) -> list[bytes]:
    """The rows as serialized tf.Examples, in order (Beam's batched Parquet read yields tables)."""
    from tfx_bsl.coders import example_coder

    batches = rows.to_batches() if isinstance(rows, pa.Table) else [rows]
    return [
        example
        for batch in batches
        for example in example_coder.RecordBatchToExamples(as_feature_lists(batch))
    ]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _SnapshotToExamples(pipeline, exec_properties: dict, split_pattern: str):
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    return (
        pipeline
        | "ReadParquetBatches" >> beam.io.ReadFromParquetBatched(pattern)
        | "EncodeExamples" >> beam.FlatMap(encode_examples)
    )


class SnapshotExampleGenExecutor(BaseExampleGenExecutor):
    """FileBasedExampleGen over the snapshot's `<split>/*.parquet` files."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _SnapshotToExamples
