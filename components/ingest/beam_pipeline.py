"""The ingest as an Apache Beam graph over Arrow tables: read → validate → split → write.

Elements are whole Arrow tables (one per read batch), never one Python object per row: that is
what keeps the local runner near pyarrow's own speed. The same graph runs on a distributed runner
(Flink, Spark, Dataflow) when the input is split over several files and the output directory is
on storage every worker sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.parquetio import WriteToParquetBatched

from components.common.spec import DatasetSpec
from components.ingest import duplicates
from components.ingest.sources import SourceFile, read_batches
from components.ingest.split import SPLITS, split_of_rows
from components.ingest.statistics import partial_statistics
from components.ingest.summary import (
    EXAMPLES_KEPT,
    Summary,
    empty_summary,
    merge_summaries,
    summary_part,
)
from components.ingest.validate import (
    REASON,
    SOURCE_FILE,
    SOURCE_ROW,
    SYNTHETIC_ID,
    validate_batch,
)

QUARANTINE = "quarantine"
SUMMARY_FILE = "_summary.json"
_SUMMARY = "summary"

# (file index, file name, 1-based first data row, batch)
RawBatch = tuple[int, str, int, pa.Table]


def snapshot_schema(dataset: DatasetSpec) -> pa.Schema:
    id_field = pa.field(dataset.id or SYNTHETIC_ID, pa.string(), nullable=False)
    label = pa.field(dataset.label, pa.string(), nullable=False)
    features = [
        pa.field(f.name, pa.float64() if f.type == "numeric" else pa.string(), not f.required)
        for f in dataset.features
    ]
    return pa.schema([id_field, label, *features])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` in `schema`'s column order; columns a file lacks become nulls."""
    arrays = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def quarantine_schema(columns: list[str]) -> pa.Schema:
    text = [pa.field(name, pa.string()) for name in columns]
    meta = [
        pa.field(SOURCE_FILE, pa.string()),
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field(REASON, pa.string()),
    ]
    return pa.schema(text + meta)


class _ReadBatches(beam.DoFn):
    def __init__(self, dataset: DatasetSpec, batch_rows: int) -> None:
        self._dataset = dataset
        self._batch_rows = batch_rows

    def process(self, source: SourceFile) -> Iterator[RawBatch]:
        for first_row, table in read_batches(source, self._dataset, self._batch_rows):
            yield source.index, source.path.name, first_row, table


class _PartitionIds(beam.DoFn):
    def __init__(self, id_column: str) -> None:
        self._id_column = id_column

    def process(self, raw: RawBatch) -> Iterator[tuple[int, pa.Table]]:
        file_index, _, first_row, table = raw
        positions = duplicates.positions(file_index, first_row, table.num_rows)
        yield from duplicates.partitioned_ids(
            table.column(self._id_column).combine_chunks(), positions
        )


class _Validate(beam.DoFn):
    def __init__(self, dataset: DatasetSpec, schema: pa.Schema) -> None:
        self._dataset = dataset
        self._schema = schema

    def process(self, raw: RawBatch, first_seen: list[pa.Table] | None = None):
        file_index, file_name, first_row, table = raw
        repeated = None
        if self._dataset.id is not None and first_seen:
            positions = duplicates.positions(file_index, first_row, table.num_rows)
            ids = table.column(self._dataset.id).combine_chunks()
            repeated = duplicates.later_occurrences(ids, positions, pa.concat_tables(first_seen))
        result = validate_batch(table, self._dataset, file_name, first_row, repeated)
        bad = result.quarantine
        if result.good.num_rows:
            yield result.good
        if bad.num_rows:
            yield beam.pvalue.TaggedOutput(QUARANTINE, _conform(bad, self._schema))
        reasons = pc.value_counts(bad.column(REASON)).to_pylist() if bad.num_rows else []
        first_bad = bad.slice(0, EXAMPLES_KEPT)
        examples = [
            (file_index, row, file_name, reason)
            for row, reason in zip(
                first_bad.column(SOURCE_ROW).to_pylist(),
                first_bad.column(REASON).to_pylist(),
                strict=True,
            )
        ]
        yield beam.pvalue.TaggedOutput(
            _SUMMARY,
            summary_part(
                read=table.num_rows,
                quarantined_by_reason={item["values"]: item["counts"] for item in reasons},
                quarantine_examples=examples,
            ),
        )


class _AssignSplit(beam.DoFn):
    def __init__(self, dataset: DatasetSpec, schema: pa.Schema) -> None:
        self._dataset = dataset
        self._schema = schema

    def process(self, good: pa.Table):
        good = good.cast(self._schema)
        split = split_of_rows(good, self._dataset)
        counts = {}
        for index, name in enumerate(SPLITS):
            part = good.filter(pa.array(split == index))
            counts[name] = part.num_rows
            if part.num_rows:
                yield beam.pvalue.TaggedOutput(name, part)
            if name == "train" and part.num_rows:
                yield beam.pvalue.TaggedOutput(
                    _SUMMARY, summary_part(train_statistics=partial_statistics(part, self._dataset))
                )
        yield beam.pvalue.TaggedOutput(_SUMMARY, summary_part(splits=counts))


class _MergeSummaries(beam.CombineFn):
    def create_accumulator(self) -> Summary:
        return empty_summary()

    def add_input(self, accumulator: Summary, part: Summary) -> Summary:
        return merge_summaries(accumulator, part)

    def merge_accumulators(self, accumulators) -> Summary:
        merged = empty_summary()
        for accumulator in accumulators:
            merged = merge_summaries(merged, accumulator)
        return merged

    def extract_output(self, accumulator: Summary) -> Summary:
        return accumulator


def build_ingest(
    pipeline: beam.Pipeline,
    sources: list[SourceFile],
    dataset: DatasetSpec,
    batch_rows: int,
    output_dir: Path,
) -> None:
    """Add the ingest graph to `pipeline`: splits, quarantine and summary under output_dir."""
    columns = list(dict.fromkeys(column for source in sources for column in source.columns))
    raw = (
        pipeline
        | "ListFiles" >> beam.Create(sources)
        | "Read" >> beam.ParDo(_ReadBatches(dataset, batch_rows))
    )
    side_inputs = []
    if dataset.id is not None:
        first_seen = (
            raw
            | "PartitionIds" >> beam.ParDo(_PartitionIds(dataset.id))
            | "GroupIds" >> beam.GroupByKey()
            | "RepeatedIds" >> beam.MapTuple(lambda _, tables: duplicates.repeated_ids(tables))
        )
        side_inputs.append(beam.pvalue.AsList(first_seen))
    validated = raw | "Validate" >> beam.ParDo(
        _Validate(dataset, quarantine_schema(columns)), *side_inputs
    ).with_outputs(QUARANTINE, _SUMMARY, main="good")
    schema = snapshot_schema(dataset)
    splits = validated.good | "Split" >> beam.ParDo(_AssignSplit(dataset, schema)).with_outputs(
        *SPLITS, _SUMMARY
    )
    for name in SPLITS:
        _ = splits[name] | f"Write{name.title()}" >> WriteToParquetBatched(
            str(output_dir / name / "part"), schema=schema, file_name_suffix=".parquet"
        )
    _ = validated[QUARANTINE] | "WriteQuarantine" >> WriteToParquetBatched(
        str(output_dir / QUARANTINE / "part"),
        schema=quarantine_schema(columns),
        file_name_suffix=".parquet",
    )
    _ = (
        (validated[_SUMMARY], splits[_SUMMARY])
        | "AllSummaries" >> beam.Flatten()
        | "MergeSummaries" >> beam.CombineGlobally(_MergeSummaries())
        | "SummaryJson" >> beam.Map(lambda summary: json.dumps(summary, sort_keys=True))
        | "WriteSummary"
        >> beam.io.WriteToText(str(output_dir / SUMMARY_FILE), shard_name_template="", num_shards=1)
    )
