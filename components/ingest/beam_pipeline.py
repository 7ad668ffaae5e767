"""The ingest as an Apache Beam graph over Arrow tables: read → validate → split → write.

Elements are whole Arrow tables (one per read batch), never one Python object per row, and a
file's batches are read, validated, split and written inside one step that emits only small
summaries, so no runner serialises the data between steps: that is what keeps the local runner
near pyarrow's own speed, and what lets Beam's DaskRunner (which keeps a step's whole output in
memory) run it without holding the table. Each batch writes its rows to Parquet files named after
its position in the input (`train/part-<file>-<row>.parquet`), so a retried bundle rewrites the
same files and the output is the same on every runner. Repeated ids are found in a separate
id-only pass that becomes a small side input. That pass reads the file a second time on purpose:
keeping the read batches for the main pass instead (Beam materialises them through its data
plane) measured slower at 1M rows than re-reading one column. The same graph runs on a
distributed runner (Dask, exercised in the tests; Flink, Spark, Dataflow) when the input is split
over several files and the output directory is on storage every worker sees.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.ingest import arrow_coder, duplicates
from components.ingest.layout import OUTPUT_DIRS, QUARANTINE, SUMMARY_FILE, snapshot_schema
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
    validate_batch,
)
from components.spec import DatasetSpec

# An array feature's batch holds at most about this many values: a 784-pixel CSV read 65,536 rows
# at a time is 51M text cells, over a gigabyte per batch before it is even parsed.
ARRAY_VALUES_PER_BATCH = 1 << 22


class BatchKey(NamedTuple):
    file_index: int
    file_name: str
    first_row: int

    @property
    def part_name(self) -> str:
        return f"part-{self.file_index:05d}-{self.first_row:012d}.parquet"


KeyedSummary = tuple[BatchKey, Summary]


def dictionary_columns(dataset: DatasetSpec) -> list[str]:
    """The columns worth Parquet's dictionary encoding: a class label and the categorical features.

    pyarrow's default tries a dictionary on every column and falls back to plain pages for ids
    and measured numbers once it overflows; that attempt made the writes ~40% slower and the
    files ~20% larger.
    """
    categorical = [f.name for f in dataset.features if f.type == "categorical"]
    return categorical if dataset.task == "regression" else [dataset.label, *categorical]


def rows_per_batch(dataset: DatasetSpec, batch_rows: int) -> int:
    """`batch_rows`, fewer for an array feature so that a batch stays near
    ARRAY_VALUES_PER_BATCH values."""
    sizes = [f.size for f in dataset.features if f.type == "array"]
    if not sizes:
        return batch_rows
    return max(1, min(batch_rows, ARRAY_VALUES_PER_BATCH // max(sizes)))


def quarantine_schema(columns: list[str]) -> pa.Schema:
    text = [pa.field(name, pa.string()) for name in columns]
    meta = [
        pa.field(SOURCE_FILE, pa.string()),
        pa.field(SOURCE_ROW, pa.int64()),
        pa.field(REASON, pa.string()),
    ]
    return pa.schema(text + meta)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` in `schema`'s column order; columns a file lacks become nulls."""
    arrays = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


class _PartitionIds(beam.DoFn):
    """Reads only the id column of a file and emits its (id, position) pairs by partition."""

    def __init__(self, dataset: DatasetSpec, batch_rows: int) -> None:
        self._dataset = dataset
        self._batch_rows = batch_rows

    def process(self, source: SourceFile) -> Iterator[tuple[int, pa.Table]]:
        id_column = self._dataset.id
        for first_row, table in read_batches(
            source, self._dataset, self._batch_rows, columns=[id_column]
        ):
            positions = duplicates.positions(source.index, first_row, table.num_rows)
            yield from duplicates.partitioned_ids(
                table.column(id_column).combine_chunks(), positions
            )


class _IngestFile(beam.DoFn):
    """Read a file in batches; validate each batch, write its quarantined and split rows, emit
    its partial summary.

    Batches are worked on by a small thread pool: pyarrow and pandas release the GIL in their
    kernels and in Parquet writes, so while one batch is written the next is read and validated.
    At most two batches per thread are in flight; the summaries carry their BatchKey, the files
    are named by it. Every summary is emitted from `process`, none from `finish_bundle`, and
    batches never leave the step: Beam's DaskRunner collects a bundle's output before it calls
    `finish_bundle` (what that emits is lost), and keeps a step's whole output in memory before
    the next step reads it.
    """

    def __init__(
        self,
        dataset: DatasetSpec,
        batch_rows: int,
        columns: list[str],
        output_dir: Path,
        threads: int,
    ) -> None:
        self._dataset = dataset
        self._batch_rows = batch_rows
        self._schema = snapshot_schema(dataset)
        self._dictionary_columns = dictionary_columns(dataset)
        self._quarantine_schema = quarantine_schema(columns)
        self._output_dir = output_dir
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def start_bundle(self) -> None:
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="tandem-ingest")

    def process(
        self, source: SourceFile, repeated_tables: list[pa.Table] | None = None
    ) -> Iterator[KeyedSummary]:
        """`repeated_tables`: see `duplicates.repeated_ids`; None when the spec has no id."""
        pending: deque[Future] = deque()
        for batch in self._read(source, repeated_tables):
            if len(pending) >= 2 * self._threads:
                yield pending.popleft().result()
            pending.append(self._pool.submit(self._ingest, *batch))
        while pending:
            yield pending.popleft().result()

    def finish_bundle(self) -> None:
        self._pool.shutdown()

    def teardown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def _read(
        self, source: SourceFile, repeated_tables: list[pa.Table] | None
    ) -> Iterator[tuple[BatchKey, pa.Table, np.ndarray | None]]:
        """Each batch of the file, with a mask of its rows whose id was seen before."""
        repeated_ids = pa.concat_tables(repeated_tables) if repeated_tables else None
        for first_row, table in read_batches(source, self._dataset, self._batch_rows):
            repeated = None
            if repeated_ids is not None:
                positions = duplicates.positions(source.index, first_row, table.num_rows)
                ids = table.column(self._dataset.id).combine_chunks()
                repeated = duplicates.later_occurrences(ids, positions, repeated_ids)
            yield BatchKey(source.index, source.file.short_name, first_row), table, repeated

    def _write(self, table: pa.Table, directory: str, key: BatchKey, **options) -> None:
        pq.write_table(table, self._output_dir / directory / key.part_name, **options)

    def _ingest(self, key: BatchKey, table: pa.Table, repeated: np.ndarray | None) -> KeyedSummary:
        result = validate_batch(table, self._dataset, key.file_name, key.first_row, repeated)
        bad = result.quarantine
        if bad.num_rows:
            self._write(_conform(bad, self._quarantine_schema), QUARANTINE, key)
        # Hashing the few bad rows too is cheaper than copying the good rows before the split.
        split = split_of_rows(result.typed, self._dataset)
        counts = {}
        train_statistics = {}
        for index, name in enumerate(SPLITS):
            rows = np.flatnonzero(result.accepted & (split == index))
            counts[name] = len(rows)
            part = result.typed.take(rows).cast(self._schema)
            if part.num_rows:
                self._write(part, name, key, use_dictionary=self._dictionary_columns)
            if name == "train" and part.num_rows:
                train_statistics = partial_statistics(part, self._dataset)
        first_bad = bad.slice(0, EXAMPLES_KEPT)
        examples = [
            (key.file_index, row, key.file_name, reason)
            for row, reason in zip(
                first_bad.column(SOURCE_ROW).to_pylist(),
                first_bad.column(REASON).to_pylist(),
                strict=True,
            )
        ]
        reasons = pc.value_counts(bad.column(REASON)).to_pylist() if bad.num_rows else []
        return key, summary_part(
            read=table.num_rows,
            quarantined_by_reason={item["values"]: item["counts"] for item in reasons},
            quarantine_examples=examples,
            splits=counts,
            train_statistics=train_statistics,
        )


class _MergeSummaries(beam.CombineFn):
    """The batches' summaries merged in input order (by BatchKey), whatever order the runner
    delivers them in: the statistics' float sums then come out the same to the last bit on every
    runner and every rerun. The accumulator is the list of (small) per-batch summaries."""

    def create_accumulator(self) -> list[KeyedSummary]:
        return []

    def add_input(self, accumulator: list[KeyedSummary], part: KeyedSummary) -> list[KeyedSummary]:
        accumulator.append(part)
        return accumulator

    def merge_accumulators(self, accumulators) -> list[KeyedSummary]:
        return [part for accumulator in accumulators for part in accumulator]

    def extract_output(self, accumulator: list[KeyedSummary]) -> Summary:
        merged = empty_summary()
        for _, part in sorted(accumulator, key=lambda keyed: keyed[0]):
            merged = merge_summaries(merged, part)
        return merged


def _write_summary(summary: Summary, output_dir: Path) -> None:
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary))


def build_ingest(
    pipeline: beam.Pipeline,
    sources: list[SourceFile],
    dataset: DatasetSpec,
    batch_rows: int,
    threads: int,
    output_dir: Path,
) -> None:
    """Add the ingest graph to `pipeline`: splits, quarantine and summary under output_dir."""
    arrow_coder.register()
    batch_rows = rows_per_batch(dataset, batch_rows)
    for directory in OUTPUT_DIRS:
        (output_dir / directory).mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(column for source in sources for column in source.columns))
    files = pipeline | "ListFiles" >> beam.Create(sources)
    side_inputs = []
    if dataset.id is not None:
        repeated = (
            files
            | "ReadIds"
            >> beam.ParDo(_PartitionIds(dataset, batch_rows)).with_output_types(
                beam.typehints.Tuple[int, pa.Table]
            )
            | "GroupIds" >> beam.GroupByKey()
            | "RepeatedIds"
            >> beam.MapTuple(lambda _, tables: duplicates.repeated_ids(tables)).with_output_types(
                pa.Table
            )
        )
        side_inputs.append(beam.pvalue.AsList(repeated))
    _ = (
        files
        | "Ingest"
        >> beam.ParDo(_IngestFile(dataset, batch_rows, columns, output_dir, threads), *side_inputs)
        # Without the default for an empty input: every file has rows, so Ingest emits at least
        # one summary, and the default costs the runner a Create and a side input.
        | "MergeSummaries" >> beam.CombineGlobally(_MergeSummaries()).without_defaults()
        | "WriteSummary" >> beam.Map(_write_summary, output_dir)
    )
