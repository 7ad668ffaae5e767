"""One writer per output folder: `tandem run` and `tandem ingest` hold an exclusive flock on
`<output-dir>/.tandem.lock` for their whole duration; a second one refuses at once.

flock belongs to the open file, so the kernel releases it when the holder dies, however it dies
(a SIGKILL too): a lock file left behind is never stale, the next command takes it. The file
itself says who holds it (pid, command, start time), for the refusal's message. `tandem compare`
takes no lock: it reads finished runs and writes only its own report and its own MLflow run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from components.common.errors import TandemError

LOCK_FILE = ".tandem.lock"


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it; a placeholder while it is being written."""
    raw = os.pread(fd, 4096, 0)
    try:
        holder = json.loads(raw)
        return f"pid {holder['pid']} (`{holder['command']}`, started {holder['started']})"
    except (ValueError, KeyError, TypeError):
        return "another tandem process"


def _missing_folders(output_dir: Path) -> list[Path]:
    """The folders `mkdir(parents=True)` will create for `output_dir`, deepest first."""
    missing = []
    for folder in (output_dir, *output_dir.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _remove_if_unused(created: list[Path], lock: Path) -> None:
    """Remove the lock and the folders made for it when nothing else was written there."""
    if not created or any(entry != lock for entry in created[0].iterdir()):
        return
    lock.unlink()
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def output_lock(output_dir: Path, command: str) -> Iterator[Path]:
    """Hold the output folder's lock for the block; a TandemError at once when another process
    holds it. Nothing in the folder changes when the lock is refused (the lock file is only
    created, empty, when there was none). A folder the lock created is removed again when the
    block leaves nothing in it but the lock (bad input refused before any work)."""
    output_dir = Path(output_dir)
    created = _missing_folders(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    locked = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TandemError(
                f"{output_dir.resolve()} is in use by {_holder(fd)}: wait for it to finish, or "
                f"give `tandem {command}` another --output-dir"
            ) from None
        locked = True
        holder = {
            "pid": os.getpid(),
            "command": shlex.join(["tandem", *sys.argv[1:]]),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield path
    finally:
        if locked:
            _remove_if_unused(created, path)
        os.close(fd)
