"""The TFX pipeline's ExampleGen publishes the snapshot's Parquet as Parquet examples: list columns
TFDV and tf.Transform take, where a present value stays what it is (0.0, 0, false, "" included)
and only a null is missing."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.errors import TandemError
from components.ingest.tfx_example_gen import as_feature_lists, publish_file, publish_split

FALSY = pa.record_batch(
    {
        "x": pa.array([0.0, None, -1.5]),
        "n": pa.array([0, None, 7], pa.int64()),
        "flag": pa.array([False, True, None]),
        "category": pa.array(["", None, "Dream"]),
        "coded": pa.array(["a", "b", None]).dictionary_encode(),
    }
)


def test_falsy_values_stay_and_only_nulls_are_missing() -> None:
    lists = as_feature_lists(FALSY)

    assert lists.column("x").to_pylist() == [[0.0], None, [-1.5]]
    assert lists.column("n").to_pylist() == [[0], None, [7]]
    assert lists.column("flag").to_pylist() == [[0], [1], None]
    assert lists.column("category").to_pylist() == [[b""], None, [b"Dream"]]
    assert lists.column("coded").to_pylist() == [[b"a"], [b"b"], None]
    # The types ParquetTFXIO declares for a TFMD schema (tfx_bsl's csv_decoder.GetArrowSchema).
    assert lists.schema.field("x").type == pa.large_list(pa.float32())
    assert lists.schema.field("n").type == pa.large_list(pa.int64())
    assert lists.schema.field("category").type == pa.large_list(pa.large_binary())


def test_a_column_tfx_examples_cannot_hold_is_named() -> None:
    batch = pa.record_batch({"when": pa.array([1, 2], pa.timestamp("s"))})
    with pytest.raises(TandemError, match=r"'when' has type timestamp\[s\]"):
        as_feature_lists(batch)


def test_tfdv_counts_a_published_zero_as_a_zero_and_a_null_as_missing(tmp_path) -> None:
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory

    source, published = tmp_path / "part-0.parquet", tmp_path / "published.parquet"
    pq.write_table(pa.Table.from_batches([FALSY]), source, row_group_size=2)
    publish_file(str(source), str(published))
    table = pq.read_table(published)

    assert table.column("x").to_pylist() == [[0.0], None, [-1.5]]
    statistics = generate_statistics_in_memory(table.combine_chunks().to_batches()[0])
    (x,) = [f for f in statistics.datasets[0].features if f.path.step == ["x"]]
    assert x.num_stats.num_zeros == 1
    assert x.num_stats.common_stats.num_missing == 1


def test_a_split_keeps_its_file_names_and_an_empty_file_its_list_schema(tmp_path) -> None:
    split = tmp_path / "snapshot" / "train"
    split.mkdir(parents=True)
    pq.write_table(pa.Table.from_batches([FALSY]), split / "part-0.parquet")
    pq.write_table(pa.Table.from_batches([FALSY]).slice(0, 0), split / "part-1.parquet")

    publish_split(str(split / "*.parquet"), str(tmp_path / "Split-train"))

    published = sorted(p.name for p in (tmp_path / "Split-train").iterdir())
    assert published == ["part-0.parquet", "part-1.parquet"]
    empty = pq.read_table(tmp_path / "Split-train" / "part-1.parquet")
    assert empty.num_rows == 0
    assert empty.schema.field("x").type == pa.large_list(pa.float32())


def test_a_pattern_without_files_is_named(tmp_path) -> None:
    with pytest.raises(TandemError, match="no snapshot files match"):
        publish_split(str(tmp_path / "train" / "*.parquet"), str(tmp_path / "Split-train"))
