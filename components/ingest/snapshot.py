"""Snapshot identity and publishing: fingerprint, cache lookup, atomic rename, manifest.

A snapshot directory is only ever seen complete: it is written under a temporary name beside its
final place and renamed in one step, so a crash or Ctrl-C leaves no half snapshot behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from components.common.errors import TandemError
from components.spec import DatasetSpec
from components.spec.data_files import DataFile, open_bytes

# 2: the manifest says the task; a regression label is float64. 3: text and array features
# (a tokenizer in the snapshot, `text` and `array` statistics).
FORMAT_VERSION = 3
# Bump when ingest trains or saves a text feature's tokenizer differently (in
# components.common.text_tokens or components.ingest.text_tokenizer): a cached snapshot's
# tokenizer would no longer be the one this code trains.
TOKENIZER_FORMAT = 1
MANIFEST = "manifest.json"
SNAPSHOTS_DIR = "snapshots"
_TEMP_PREFIX = ".tmp-"
_CHUNK = 1 << 22


def data_sha256(file: DataFile) -> tuple[str, int]:
    """SHA-256 and length of the bytes ingest reads: a file's, or an archive member's."""
    digest = hashlib.sha256()
    size = 0
    with open_bytes(file) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def fingerprint(file_digests: list[str], dataset: DatasetSpec) -> str:
    """Content hash of the input files (in order) and of the dataset spec, without its location.

    Moving or renaming the data keeps the fingerprint; changing a byte, a feature, a category, a
    split ratio or the seed changes it. FORMAT_VERSION changes when ingest's output changes. A
    text dataset's snapshot holds a tokenizer, so the tokenizers library's version and
    TOKENIZER_FORMAT key it too (its vocabulary size and length are dataset settings already).
    """
    settings = dataset.model_dump(mode="json", exclude={"source"})
    identity = {"format_version": FORMAT_VERSION, "files": file_digests, "dataset": settings}
    if dataset.input_kind == "text":
        identity["tokenizer"] = {
            "format": TOKENIZER_FORMAT,
            "tokenizers": importlib.metadata.version("tokenizers"),
        }
    payload = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def snapshot_dir(output_dir: Path, spec_name: str, snapshot_fingerprint: str) -> Path:
    return Path(output_dir) / SNAPSHOTS_DIR / f"{spec_name}-{snapshot_fingerprint[:12]}"


def current_snapshot_name(spec_name: str) -> str:
    """`<spec>-current`, under snapshots/: the snapshot the latest ingest of the spec made or
    reused. A cluster's TFX pipeline reads its data there (`pipelines.tfx.kubeflow_v2_runner`):
    its DAG has no ingest step of its own."""
    return f"{spec_name}-current"


def current_snapshot_link(output_dir: Path, spec_name: str) -> Path:
    return Path(output_dir) / SNAPSHOTS_DIR / current_snapshot_name(spec_name)


def point_current(link: Path, snapshot: Path) -> None:
    """Make `link` a relative symlink to `snapshot` (a sibling), replaced in one step, so a
    reader sees the old snapshot or the new one, never neither."""
    staging = link.with_name(f".link-{link.name}-{uuid.uuid4().hex[:8]}")
    staging.symlink_to(snapshot.name, target_is_directory=True)
    os.replace(staging, link)


def read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def require_manifest(directory: Path) -> dict:
    """The manifest of a published snapshot; a TandemError when `directory` is not one."""
    manifest = read_manifest(Path(directory))
    if manifest is None:
        raise TandemError(f"{directory}: not a tandem snapshot (no readable {MANIFEST})")
    return manifest


def cached_manifest(directory: Path, snapshot_fingerprint: str) -> dict | None:
    manifest = read_manifest(directory)
    if manifest and manifest.get("fingerprint") == snapshot_fingerprint:
        return manifest
    return None


def _remove_abandoned(parent: Path) -> None:
    """Remove temporary directories whose writing process no longer exists."""
    for stale in parent.glob(f"{_TEMP_PREFIX}*"):
        pid = stale.name.removeprefix(_TEMP_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """A temporary directory beside `final`, removed on any failure or interrupt."""
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(final.parent)
    staging = final.parent / f"{_TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, final: Path, manifest: dict) -> bool:
    """Write the manifest last, then rename into place. False if another run published first."""
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    try:
        staging.rename(final)
    except OSError:
        if cached_manifest(final, manifest["fingerprint"]) is not None:
            return False
        raise
    return True
