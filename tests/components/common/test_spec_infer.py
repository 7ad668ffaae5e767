"""infer_spec on real files: the bundled penguins CSV, scikit-learn's wine table, edge cases."""

from __future__ import annotations

import datetime
import gzip
import importlib.resources
import warnings
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_wine

from components.common.errors import TandemError
from components.ingest.validate import validate_batch
from components.spec import DEFAULT_MISSING_VALUES, load_spec, spec_to_yaml
from components.spec.data_files import DataFile
from components.spec.infer import infer_spec

PENGUINS = Path(str(importlib.resources.files("palmerpenguins") / "data/penguins.csv"))


@pytest.fixture(scope="module")
def wine() -> pa.Table:
    return pa.Table.from_pandas(load_wine(as_frame=True).frame, preserve_index=False)


def _write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def _features(spec) -> dict:
    return {f.name: f for f in spec.dataset.features}


def test_penguins_csv() -> None:
    spec = infer_spec(PENGUINS, label="species")

    dataset = spec.dataset
    assert spec.name == "penguins"
    assert (dataset.source, dataset.format) == (str(PENGUINS.resolve()), "csv")
    assert dataset.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert dataset.id is None
    assert dataset.ignore_columns == []
    assert dataset.missing_values == DEFAULT_MISSING_VALUES
    features = _features(spec)
    assert list(features) == [
        "island",
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "sex",
        "year",
    ]
    assert features["island"].values == ["Biscoe", "Dream", "Torgersen"]
    assert features["sex"].values == ["female", "male"]
    assert features["island"].slice and features["sex"].slice
    assert features["island"].required and features["year"].required
    assert not features["sex"].required
    for measure in ("bill_length_mm", "bill_depth_mm"):
        assert features[measure].type == "numeric"
        assert not features[measure].required
    assert features["year"].type == "numeric"


def test_penguins_spec_ingests_without_edits() -> None:
    spec = infer_spec(PENGUINS, label="species")
    table = pacsv.read_csv(PENGUINS)
    as_text = table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))

    result = validate_batch(as_text, spec.dataset, source_file=PENGUINS.name, first_row=1)

    # Every row passes: the 11 penguins without a recorded sex are allowed by required: false.
    assert (result.good.num_rows, result.quarantine.num_rows) == (344, 0)
    assert result.good.column("sex").null_count == 11


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_wine(tmp_path: Path, wine: pa.Table, suffix: str) -> None:
    data = _write(wine, tmp_path / f"Wine Data{suffix}")

    spec = infer_spec(data, label="target")

    assert spec.name == "wine-data"
    assert spec.dataset.format == suffix.removeprefix(".")
    assert spec.dataset.classes == ["0", "1", "2"]
    features = spec.dataset.features
    assert len(features) == 13
    assert all(f.type == "numeric" and f.required for f in features)
    good = validate_batch(wine, spec.dataset, source_file=data.name, first_row=1).good
    assert good.num_rows == wine.num_rows


def test_integer_classes_sort_as_numbers(tmp_path: Path) -> None:
    labels = [str(i % 12) for i in range(48)]
    data = _write(pa.table({"x": range(48), "grade": labels}), tmp_path / "grades.csv")

    assert infer_spec(data, label="grade").dataset.classes == [str(i) for i in range(12)]


def test_csv_true_false_stay_as_written(tmp_path: Path) -> None:
    data = tmp_path / "smokers.csv"
    data.write_text("smoker,label\nTrue,a\nFalse,b\nNA,a\n", encoding="utf-8")

    smoker = _features(infer_spec(data, label="label"))["smoker"]

    assert smoker.type == "categorical"
    assert smoker.values == ["False", "True"]
    assert not smoker.required


@pytest.mark.parametrize("source", ["penguins", "wine.parquet"])
def test_yaml_round_trip(tmp_path: Path, wine: pa.Table, source: str) -> None:
    data = PENGUINS if source == "penguins" else _write(wine, tmp_path / source)
    label = "species" if source == "penguins" else "target"
    spec = infer_spec(data, label=label, name="round-trip")
    spec_file = tmp_path / "elsewhere" / "spec.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text(spec_to_yaml(spec), encoding="utf-8")

    loaded = load_spec(spec_file)

    assert loaded.spec == spec
    assert loaded.source_files() == [DataFile(data.resolve())]


def test_parquet_column_types(tmp_path: Path) -> None:
    n = 8
    table = pa.table(
        {
            "label": ["yes", "no"] * (n // 2),
            "flag": [True, False, True, True, False, True, False, False],
            "colour": pa.array(["red", "blue"] * (n // 2)).dictionary_encode(),
            "size": ["S", "M", "NA", "L", "", "S", None, "M"],
            "day": [datetime.date(2024, 1, d + 1) for d in range(n)],
            "empty": pa.nulls(n, pa.float64()),
        }
    )
    data = _write(table, tmp_path / "types.pq")

    said: list[str] = []
    spec = infer_spec(data, label="label", explain=said.append)

    assert spec.dataset.format == "parquet"
    assert spec.dataset.classes == ["no", "yes"]
    features = _features(spec)
    assert features["flag"].values == ["false", "true"]
    assert features["colour"].values == ["blue", "red"]
    assert features["size"].values == ["L", "M", "S"]
    assert features["flag"].required and not features["size"].required
    assert spec.dataset.ignore_columns == ["day", "empty"]
    assert said[1:] == [
        "column 'day' goes to ignore_columns: its type date32[day] is neither numeric nor "
        "categorical (e.g. a date)",
        "column 'empty' goes to ignore_columns: every value is missing",
    ]


def test_short_values_with_too_many_categories_are_ignored_with_the_reason(tmp_path: Path) -> None:
    n = 60
    table = pa.table(
        {
            "row": [f"r{i}" for i in range(n)],
            "weight": [float(i) for i in range(n)],
            "seen_on": [f"day {i}" for i in range(n)],
            "label": ["a", "b", "c"] * (n // 3),
        }
    )
    data = _write(table, tmp_path / "notes.csv")

    said: list[str] = []
    spec = infer_spec(data, label="label", id_column="row", explain=said.append)

    assert len(said) == 2 and said[1].startswith("column 'seen_on' goes to ignore_columns: 60")
    assert spec.dataset.id == "row"
    assert spec.dataset.ignore_columns == ["seen_on"]
    assert [f.name for f in spec.dataset.features] == ["weight"]


def test_label_not_a_column() -> None:
    with pytest.raises(TandemError) as error:
        infer_spec(PENGUINS, label="specie")

    message = str(error.value)
    assert str(PENGUINS.resolve()) in message
    assert "'specie'" in message
    assert "species, island, bill_length_mm" in message


def test_single_class_label(tmp_path: Path) -> None:
    data = _write(pa.table({"x": [1, 2, 3], "label": ["a", "a", None]}), tmp_path / "one.csv")

    with pytest.raises(TandemError, match=r"label 'label' has 1 distinct.*at least 2 classes"):
        infer_spec(data, label="label")


def test_a_numeric_label_with_many_values_is_a_regression_target_and_says_why(
    tmp_path: Path,
) -> None:
    table = pa.table({"x": range(60), "price": [i * 1.5 for i in range(60)]})
    data = _write(table, tmp_path / "prices.csv")
    said: list[str] = []

    spec = infer_spec(data, label="price", explain=said.append)

    assert (spec.dataset.task, spec.dataset.classes) == ("regression", None)
    assert said == [
        "task: regression — label 'price' is numeric with 60 distinct values (more than 20); "
        "pass --task classification to treat them as classes"
    ]
    load_spec(_write_spec(spec, tmp_path))  # a valid spec as written


def _write_spec(spec, tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(spec_to_yaml(spec))
    return path


def test_task_overrides_the_inference_both_ways(tmp_path: Path) -> None:
    table = pa.table({"x": range(60), "rating": [1 + i % 5 for i in range(60)]})
    data = _write(table, tmp_path / "ratings.csv")
    said: list[str] = []

    assert infer_spec(data, label="rating", explain=said.append).dataset.classes == list("12345")
    assert "pass --task regression to predict it as a number" in said[0]
    as_number = infer_spec(data, label="rating", task="regression", explain=said.append)
    assert as_number.dataset.task == "regression"
    assert said[1] == "task: regression — as --task asked"


def test_regression_on_a_text_label_and_too_many_classes_fail_clearly(tmp_path: Path) -> None:
    table = pa.table({"x": range(60), "price": [i * 1.5 for i in range(60)]})
    data = _write(table, tmp_path / "prices.csv")
    with pytest.raises(
        TandemError, match=r"60 distinct values, too many classes.*--task regression"
    ):
        infer_spec(data, label="price", task="classification")
    with pytest.raises(TandemError, match="--task regression needs a numeric label"):
        infer_spec(PENGUINS, label="species", task="regression")


def test_id_not_a_column() -> None:
    with pytest.raises(TandemError, match=r"no column 'penguin_id' to use as the id.*species"):
        infer_spec(PENGUINS, label="species", id_column="penguin_id")


def test_id_not_unique(tmp_path: Path) -> None:
    table = pa.table({"key": [1, 1, 2, 3, 3, 4], "x": range(6), "label": ["a", "b"] * 3})
    data = _write(table, tmp_path / "dupes.parquet")

    with pytest.raises(TandemError, match=r"id column 'key' is not unique: 2 value\(s\)"):
        infer_spec(data, label="label", id_column="key")


def test_unknown_suffix(tmp_path: Path) -> None:
    data = tmp_path / "table.json"
    data.write_text("{}", encoding="utf-8")

    with pytest.raises(TandemError, match=r"table\.json.*suffix '\.json'"):
        infer_spec(data, label="label")


def test_bad_name_is_a_tandem_error() -> None:
    with pytest.raises(TandemError, match="name"):
        infer_spec(PENGUINS, label="species", name="Not A Name")


def test_a_clean_file_says_only_its_task_and_warns_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        infer_spec(PENGUINS, label="species", explain=said.append)
    assert said == ["task: classification — label 'species' is text with 3 distinct values"]


def test_a_package_archive_member_keeps_its_package_source() -> None:
    source = "package://pydataset/resources.tar.gz#resources/rdata/csv/Ecdat/HI.csv"
    said: list[str] = []
    spec = infer_spec(source, label="hhi", name="hi", explain=said.append)

    assert "column '' goes to ignore_columns: it has no name" in said[1]
    assert spec.dataset.source == source
    assert spec.dataset.classes == ["no", "yes"]
    assert spec.dataset.ignore_columns == [""]
    assert "education" in _features(spec)


def test_an_archive_member_round_trips_through_a_spec(tmp_path: Path) -> None:
    archive = tmp_path / "tables.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("data/penguins.csv", PENGUINS.read_bytes())

    spec = infer_spec(str(archive) + "#data/penguins.csv", label="species")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(spec_to_yaml(spec), encoding="utf-8")

    assert spec.name == "penguins"
    assert spec.dataset.source == f"{archive}#data/penguins.csv"
    assert load_spec(spec_file).source_files() == [DataFile(archive, "data/penguins.csv")]


def _reviews(n: int, words: int) -> list[str]:
    """`n` distinct texts of `words` words each; every lower-case word occurs exactly twice
    (the second half repeats the first in upper case)."""
    half = n // 2
    texts = [
        " ".join(f"w{(i * words + k) % (half * words)}" for k in range(words)) for i in range(half)
    ]
    return texts + [text.upper() for text in texts]


def _text_table(n: int, words: int) -> pa.Table:
    return pa.table(
        {
            "review": _reviews(n, words),
            "stars": [float(i % 5) for i in range(n)],
            "genre": ["drama", "comedy"] * (n // 2),
            "label": ["good", "bad"] * (n // 2),
        }
    )


@pytest.mark.parametrize(
    ("rows", "words", "max_length", "vocabulary_size"),
    [
        # 10 words x 1.3 = 13, up to 16; 40 x 10 = 400 words seen twice, up to 1,000.
        (80, 10, 16, 1000),
        # 5 x 1.3 = 6.5, up to 8; 2,000 x 5 = 10,000 words seen twice, capped at 8,000.
        (4000, 5, 8, 8000),
        # 500 x 1.3 = 650, capped at 512.
        (40, 500, 512, 8000),
    ],
)
def test_a_text_column_is_the_only_feature_and_a_transformer_reads_it(
    tmp_path: Path, rows: int, words: int, max_length: int, vocabulary_size: int
) -> None:
    data = _write(_text_table(rows, words), tmp_path / "reviews.csv")
    said: list[str] = []

    spec = infer_spec(data, label="label", explain=said.append)

    [review] = spec.dataset.features
    assert (review.name, review.type, review.required) == ("review", "text", True)
    assert (review.max_length, review.vocabulary_size) == (max_length, vocabulary_size)
    assert spec.dataset.ignore_columns == ["stars", "genre"]
    assert spec.training.model.family == "transformer"
    assert said[1].startswith(
        f"column 'review' is a text feature: its values run to {words} words at the median and "
        f"100% of them are distinct (free text); max_length {max_length} "
    )
    assert said[2:] == [
        "family: transformer — it reads the text feature 'review'",
        *(
            f"column '{column}' goes to ignore_columns: the text feature 'review' is the "
            "model's only input (text and array features are not combined with other features)"
            for column in ("stars", "genre")
        ),
    ]
    loaded = load_spec(_write_spec(spec, tmp_path))
    assert loaded.spec == spec
    assert loaded.spec.dataset.input_kind == "text"


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        # Long but one word each: ids or hashes, not text.
        ([f"3f2b9c1e-{i:04d}-4c7a-9d2e-8b1f0a6c5d4e" for i in range(60)], None),
        # Several words, but a few values repeated: categories.
        (["fits well and looks good", "too small for me"] * 30, "categorical"),
    ],
    ids=["long-single-words", "repeated-phrases"],
)
def test_long_ids_and_repeated_phrases_are_not_text(
    tmp_path: Path, values: list[str], kind: str | None
) -> None:
    table = pa.table({"x": range(60), "note": values, "label": ["a", "b"] * 30})
    spec = infer_spec(_write(table, tmp_path / "notes.csv"), label="label")

    if kind is None:
        assert "note" in spec.dataset.ignore_columns
    else:
        assert _features(spec)["note"].type == kind
    assert spec.training.model.family == "mlp"


def _pixels(rows: int, count: int) -> list[list[int]]:
    return [[(row * 31 + pixel * 7) % 256 for pixel in range(count)] for row in range(rows)]


def test_numbered_pixel_columns_make_an_image_read_by_a_cnn(tmp_path: Path) -> None:
    rows = 30
    pixels = _pixels(rows, 784)
    columns = {f"pixel_{i}": [row[i] for row in pixels] for i in range(784)}
    table = pa.table(
        {"label": [str(i % 3) for i in range(rows)], **columns, "scanner": ["a", "b"] * 15}
    )
    said: list[str] = []

    spec = infer_spec(_write(table, tmp_path / "digits.csv"), label="label", explain=said.append)

    [image] = spec.dataset.features
    assert (image.name, image.type, image.shape, image.columns) == (
        "pixel",
        "array",
        [28, 28, 1],
        "pixel_*",
    )
    assert spec.dataset.header is True
    assert spec.dataset.ignore_columns == ["scanner"]
    assert spec.training.model.family == "cnn"
    assert spec.training.model.params.channels == [16, 32, 64]
    assert said[1:] == [
        "columns pixel_0..pixel_783 (784 numbered numeric columns) make the array feature "
        "'pixel' with shape [28, 28, 1], read as a 28x28 image",
        "family: cnn with channels [16, 32, 64] — it reads the array feature 'pixel' (one "
        "convolution block per halving of its side, 28, while that stays at least 3)",
        "column 'scanner' goes to ignore_columns: the array feature 'pixel' is the model's only "
        "input (text and array features are not combined with other features)",
    ]
    loaded = load_spec(_write_spec(spec, tmp_path))
    assert loaded.spec == spec
    assert loaded.spec.dataset.input_kind == "array"


def test_a_csv_without_a_header_is_read_as_f0_to_fn(tmp_path: Path) -> None:
    rows = 20
    data = tmp_path / "digits.csv"
    data.write_text(
        "".join(
            ",".join(map(str, [*row, i % 10])) + "\n" for i, row in enumerate(_pixels(rows, 784))
        )
    )
    said: list[str] = []

    spec = infer_spec(data, label="f784", explain=said.append)

    dataset = spec.dataset
    assert dataset.header is False
    assert (dataset.label, dataset.classes) == ("f784", [str(d) for d in range(10)])
    [image] = dataset.features
    assert (image.name, image.shape, image.columns) == ("pixels", [28, 28, 1], "f*")
    assert dataset.ignore_columns == []
    assert said[0] == (
        "header: false — the first row (0, 7, 14, ...) holds only numbers, so it is data, not "
        "column names; the columns are named f0..f784"
    )
    loaded = load_spec(_write_spec(spec, tmp_path))
    assert loaded.spec.dataset.header is False
    assert loaded.spec.dataset.tensor_feature.size == 784


def test_a_series_lists_its_columns_when_the_glob_would_take_another(tmp_path: Path) -> None:
    rows = 12
    steps = {f"t{i}": [float(row + i) for row in range(rows)] for i in range(1, 21)}
    table = pa.table({**steps, "type": ["x", "y"] * (rows // 2), "label": ["a", "b", "c"] * 4})

    spec = infer_spec(_write(table, tmp_path / "series.parquet"), label="label")

    [series] = spec.dataset.features
    # t* would also take "type": the 20 steps are listed in their numbered order.
    assert (series.name, series.shape, series.columns) == ("series", [20, 1], list(steps))
    assert spec.dataset.ignore_columns == ["type"]
    assert spec.training.model.params.channels == [16, 32]  # 20 → 10 → 5, then 2 is below 3
    load_spec(_write_spec(spec, tmp_path))


def test_fewer_numbered_columns_stay_numeric_features(tmp_path: Path) -> None:
    table = pa.table({**{f"x{i}": [float(i)] * 6 for i in range(15)}, "label": ["a", "b"] * 3})

    spec = infer_spec(_write(table, tmp_path / "narrow.csv"), label="label")

    assert [f.type for f in spec.dataset.features] == ["numeric"] * 15
    assert spec.training.model.family == "mlp"


def test_a_header_of_pandas_column_numbers_is_a_header(tmp_path: Path) -> None:
    table = pa.table({"0": [1.5, 2.5, 3.5, 4.5], "1": [1, 2, 3, 4], "2": ["a", "b", "a", "b"]})

    spec = infer_spec(_write(table, tmp_path / "frame.csv"), label="2")

    assert spec.dataset.header is True
    assert [f.name for f in spec.dataset.features] == ["0", "1"]


def test_a_compressed_csv_is_named_without_its_suffixes(tmp_path: Path) -> None:
    data = tmp_path / "Penguin Notes.csv.gz"
    data.write_bytes(gzip.compress(PENGUINS.read_bytes()))

    assert infer_spec(data, label="species").name == "penguin-notes"
