"""Array features: read from many numeric columns (a glob in natural order, or a header-less CSV)
or from a Parquet list column, bad rows quarantined by reason, one list<float32> column in the
snapshot, train statistics over every value, and the ExampleGen's float lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from components.common.errors import TandemError
from components.ingest.array_columns import value_columns
from components.ingest.beam_pipeline import ARRAY_VALUES_PER_BATCH, rows_per_batch
from components.ingest.run import IngestResult, run_ingest
from components.ingest.snapshot import SNAPSHOTS_DIR
from components.ingest.tfx_example_gen import as_feature_lists, publish_file
from components.ingest.validate import REASON, SOURCE_ROW, validate_batch
from components.spec import DatasetSpec, load_spec

SHAPE = [3, 4, 1]
SIZE = 12
ROWS = 120


def _dataset(**changes) -> DatasetSpec:
    fields = {
        "source": "unused.csv",
        "label": "digit",
        "classes": ["a", "b"],
        "features": [{"name": "image", "type": "array", "shape": SHAPE, "columns": "pixel_*"}],
    }
    return DatasetSpec(**(fields | changes))


def _images(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, size=(ROWS, SIZE)).astype(np.float32)
    return values, ["a" if i % 2 else "b" for i in range(ROWS)]


def _spec(directory: Path, dataset: dict) -> Path:
    document = {
        "name": "pixels",
        "dataset": {"label": "digit", "classes": ["a", "b"], **dataset},
        "training": {"model": {"family": "cnn", "params": {"channels": [4]}}},
    }
    path = directory / "spec.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _feature(**changes) -> dict:
    return {"name": "image", "type": "array", "shape": SHAPE, **changes}


def _pixel_lines(values: np.ndarray, labels: list[str], header: bool) -> list[str]:
    """A CSV whose pixel columns are in plain sort order (pixel_0, pixel_1, pixel_10, ...)."""
    names = sorted(f"pixel_{i}" for i in range(SIZE))
    order = [int(name.split("_")[1]) for name in names]
    lines = [",".join(["digit", *names])] if header else []
    for label, row in zip(labels, values, strict=True):
        lines.append(",".join([label, *(f"{row[i]:g}" for i in order)]))
    return lines


def _reasons(quarantine: pa.Table) -> dict[int, str]:
    rows, reasons = quarantine[SOURCE_ROW].to_pylist(), quarantine[REASON].to_pylist()
    return dict(zip(rows, reasons, strict=True))


def _train_values(result: IngestResult) -> np.ndarray:
    train = pq.read_table(result.snapshot_dir / "train")
    return np.stack(train.column("image").to_numpy(zero_copy_only=False))


@pytest.fixture(scope="module")
def from_columns(tmp_path_factory) -> tuple[IngestResult, np.ndarray]:
    directory = tmp_path_factory.mktemp("pixels")
    values, labels = _images()
    lines = _pixel_lines(values, labels, header=True)
    # Data rows 2 to 5 each carry one bad cell; row 6 a number beyond float32's range.
    bad = {2: "abc", 3: "", 4: "nan", 5: "-inf", 6: "1e39"}
    for row, cell in bad.items():
        cells = lines[row].split(",")
        cells[3] = cell
        lines[row] = ",".join(cells)
    (directory / "pixels.csv").write_text("\n".join(lines) + "\n")
    spec = _spec(directory, {"source": "pixels.csv", "features": [_feature(columns="pixel_*")]})
    return run_ingest(load_spec(spec), directory / "out", track=False), values


def test_a_glob_reads_its_columns_in_natural_order_and_never_the_keys():
    dataset = _dataset(id="pixel_id", ignore_columns=["pixel_note"])
    available = ["pixel_10", "digit", "pixel_id", "pixel_2", "pixel_note", "pixel_1", "other"]
    columns = value_columns(dataset.features[0], dataset, available)
    assert columns == ["pixel_1", "pixel_2", "pixel_10"]


def test_pixel_columns_become_one_row_major_list_in_natural_order(from_columns):
    result, values = from_columns
    train = pq.read_table(result.snapshot_dir / "train")
    assert train.schema.field("image").type == pa.list_(pa.float32())
    rows = {
        int(key.split(":")[1]): value
        for key, value in zip(
            train.column("tandem_row_id").to_pylist(),
            train.column("image").to_pylist(),
            strict=True,
        )
    }
    assert rows
    for row, image in rows.items():
        np.testing.assert_array_equal(image, values[row - 1])


def test_each_bad_pixel_quarantines_its_row_naming_the_feature(from_columns):
    result, _ = from_columns
    counts = result.counts
    assert counts["quarantined_by_reason"] == {
        "non_finite:image": 3,
        "not_a_number:image": 1,
        "missing_value:image": 1,
    }
    assert counts["accepted"] == ROWS - 5
    quarantine = pq.read_table(result.snapshot_dir / "quarantine")
    assert _reasons(quarantine) == {
        2: "not_a_number:image",
        3: "missing_value:image",
        4: "non_finite:image",
        5: "non_finite:image",
        6: "non_finite:image",
    }
    # The original cells stay as text, in their own columns.
    first = quarantine.to_pylist()[0]
    assert first[SOURCE_ROW] == 2 and first["pixel_10"] == "abc"


def test_array_statistics_cover_every_value_of_the_train_split(from_columns):
    result, _ = from_columns
    values = _train_values(result).astype(np.float64)
    stats = result.manifest["statistics"]
    assert stats["numeric"] == {} and stats["categorical"] == {} and stats["text"] == {}
    image = stats["array"]["image"]
    assert image["shape"] == SHAPE
    assert image["count"] == values.size == SIZE * result.counts["splits"]["train"]
    assert image["missing"] == 0
    np.testing.assert_allclose([image["mean"], image["std"]], [values.mean(), values.std()])
    assert (image["min"], image["max"]) == (values.min(), values.max())


def test_a_parquet_list_column_ingests_like_the_pixel_columns(from_columns, tmp_path):
    reference, values = from_columns
    _, labels = _images()
    rows = [list(map(float, row)) for row in values]
    # Rows 2 to 6 (1-based) as the CSV spoils them, plus a missing value inside a list.
    rows[1], rows[2], rows[3] = rows[1][:-1], None, [float("nan")] * SIZE
    rows[4][0], rows[5][0] = float("inf"), 3e39
    rows[6][5] = None
    table = pa.table({"digit": labels, "image": pa.array(rows, pa.list_(pa.float64()))})
    pq.write_table(table, tmp_path / "pixels.parquet")
    spec = _spec(tmp_path, {"source": "pixels.parquet", "features": [_feature()]})

    result = run_ingest(load_spec(spec), tmp_path / "out", track=False)

    assert result.counts["quarantined_by_reason"] == {
        "non_finite:image": 3,
        "missing_value:image": 2,
        "wrong_length:image": 1,
    }
    quarantine = pq.read_table(result.snapshot_dir / "quarantine")
    reasons = _reasons(quarantine)
    assert reasons[2] == "wrong_length:image" and reasons[3] == "missing_value:image"
    assert reasons[7] == "missing_value:image"
    assert quarantine.column("image").to_pylist()[0].startswith("[")
    # An image falls in the same split from either source (the CSV accepts row 7 too).
    from_csv = {tuple(row) for row in _train_values(reference).tolist()}
    from_list = {tuple(row) for row in _train_values(result).tolist()}
    assert from_list <= from_csv
    assert from_csv - from_list <= {tuple(values[6].tolist())}


def test_a_header_less_csv_names_its_columns_f0_f1(tmp_path):
    values, labels = _images(seed=1)
    lines = [
        f"{label}," + ",".join(f"{v:g}" for v in row)
        for label, row in zip(labels, values, strict=True)
    ]
    (tmp_path / "digits.csv").write_text("\n".join(lines) + "\n")
    spec = _spec(
        tmp_path,
        {
            "source": "digits.csv",
            "header": False,
            "label": "f0",
            "features": [_feature(columns="f*")],
        },
    )
    result = run_ingest(load_spec(spec), tmp_path / "out", track=False)
    assert result.counts["read"] == ROWS and result.counts["quarantined"] == 0
    train = pq.read_table(result.snapshot_dir / "train")
    first = int(train.column("tandem_row_id")[0].as_py().split(":")[1])
    np.testing.assert_array_equal(train.column("image")[0].as_py(), values[first - 1])
    assert train.column("f0")[0].as_py() == labels[first - 1]


def test_a_source_with_too_few_pixel_columns_is_refused_before_any_work(tmp_path):
    values, labels = _images()
    lines = _pixel_lines(values, labels, header=True)
    (tmp_path / "short.csv").write_text(
        "\n".join(",".join(line.split(",")[:-1]) for line in lines) + "\n"
    )
    spec = _spec(tmp_path, {"source": "short.csv", "features": [_feature(columns="pixel_*")]})
    with pytest.raises(TandemError) as error:
        run_ingest(load_spec(spec), tmp_path / "out", track=False)
    message = str(error.value)
    assert "\n" not in message
    assert "short.csv: array feature 'image' needs 12 values" in message
    assert "'pixel_*' match 11" in message
    assert not (tmp_path / "out" / SNAPSHOTS_DIR).exists()


def test_a_listed_column_the_file_lacks_is_named(tmp_path):
    values, labels = _images()
    (tmp_path / "pixels.csv").write_text("\n".join(_pixel_lines(values, labels, True)) + "\n")
    listed = [f"pixel_{i}" for i in range(SIZE - 1)] + ["pixel_99"]
    spec = _spec(tmp_path, {"source": "pixels.csv", "features": [_feature(columns=listed)]})
    with pytest.raises(TandemError, match=r"only 11 of its listed columns .*not: pixel_99\)"):
        run_ingest(load_spec(spec), tmp_path / "out", track=False)


def test_an_array_without_columns_needs_a_list_column(tmp_path):
    values, labels = _images()
    (tmp_path / "pixels.csv").write_text("\n".join(_pixel_lines(values, labels, True)) + "\n")
    spec = _spec(tmp_path, {"source": "pixels.csv", "features": [_feature()]})
    with pytest.raises(TandemError, match="which a CSV file cannot hold"):
        run_ingest(load_spec(spec), tmp_path / "out", track=False)
    table = pa.table({"digit": labels, "image": pa.array([["x"]] * ROWS)})
    pq.write_table(table, tmp_path / "words.parquet")
    spec = _spec(tmp_path, {"source": "words.parquet", "features": [_feature()]})
    with pytest.raises(
        TandemError, match=r"column 'image' is list<\w+: string>, not a list of numbers"
    ):
        run_ingest(load_spec(spec), tmp_path / "out", track=False)


def test_list_rows_are_checked_in_one_pass_over_the_values():
    dataset = _dataset(features=[_feature()])
    image = pa.array(
        [[1.0] * SIZE, None, [2.0] * 5, [3.0] * 11 + [None], [4.0] * 11 + [float("inf")]],
        pa.list_(pa.float64()),
    )
    result = validate_batch(
        pa.table({"digit": ["a"] * 5, "image": image}), dataset, "d.parquet", first_row=1
    )
    assert result.quarantine[REASON].to_pylist() == [
        "missing_value:image",
        "wrong_length:image",
        "missing_value:image",
        "non_finite:image",
    ]
    assert result.good.column("image").to_pylist() == [[1.0] * SIZE]


def test_an_array_batch_is_capped_by_its_values():
    dataset = _dataset(features=[_feature(shape=[28, 28, 1], columns="pixel_*")])
    assert rows_per_batch(dataset, 65_536) == ARRAY_VALUES_PER_BATCH // 784
    assert rows_per_batch(dataset, 100) == 100
    tabular = _dataset(features=[{"name": "x", "type": "numeric"}])
    assert rows_per_batch(tabular, 65_536) == 65_536


def test_the_example_gen_publishes_an_array_as_its_float_list(tmp_path):
    from tensorflow_data_validation.statistics.stats_impl import generate_statistics_in_memory

    values, _ = _images()
    image = pa.ListArray.from_arrays(
        pa.array(np.arange(4) * SIZE, pa.int32()), pa.array(values[:3].reshape(-1))
    )
    batch = pa.record_batch({"image": image, "note": pa.array(["x", "y", "z"])})
    lists = as_feature_lists(batch)
    assert lists.schema.field("image").type == pa.large_list(pa.float32())
    assert lists.column("image").to_pylist() == values[:3].tolist()

    source, published = tmp_path / "part-0.parquet", tmp_path / "published.parquet"
    pq.write_table(pa.Table.from_batches([batch]), source)
    publish_file(str(source), str(published))
    table = pq.read_table(published).combine_chunks()
    statistics = generate_statistics_in_memory(table.to_batches()[0])
    (feature,) = [f for f in statistics.datasets[0].features if f.path.step == ["image"]]
    common = feature.num_stats.common_stats
    assert (common.min_num_values, common.max_num_values) == (SIZE, SIZE)
    assert feature.num_stats.mean == pytest.approx(values[:3].mean(), rel=1e-6)
