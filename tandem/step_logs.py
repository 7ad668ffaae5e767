"""Quiet steps: while a step of a `tandem` command runs, everything this process and its children
write to stdout and stderr goes to the step's log file; tandem's own consoles keep the terminal.

The redirection is of file descriptors 1 and 2, not of `sys.stdout`: TensorFlow's and gRPC's C++
logging writes to fd 2 directly, and kfp.local's executors, torchrun and its ranks are child
processes that inherit both descriptors. A step that fails prints the end of its log and the
log's path before the error goes on; a TandemError, one line that says what to do, only gains
the log's path.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.file_proxy import FileProxy
from rich.text import Text

from components.common.errors import TandemError

LOGS_DIR = "run-logs"
TAIL_LINES = 20
STDOUT, STDERR = 1, 2


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()


def _duplicate(fd: int) -> TextIO:
    """A text stream on a copy of `fd`, which stays where `fd` points now."""
    encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
    return open(os.dup(fd), "w", buffering=1, encoding=encoding, errors="replace")


class _StepStream(FileProxy):
    """sys.stdout or sys.stderr during a step: it writes straight to `stream` (a file descriptor,
    so the log). It is a rich FileProxy only because a live display started inside the step (a
    `console.status` spinner) replaces sys.stdout and sys.stderr with proxies onto its console,
    which writes to the terminal, unless they already are FileProxies."""

    def __init__(self, stream: TextIO):
        super().__init__(Console(file=stream), stream)
        self.stream = stream

    @property
    def encoding(self) -> str:
        return self.stream.encoding

    @property
    def errors(self) -> str | None:
        return self.stream.errors

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def _point(console: Console, file: TextIO | None) -> None:
    """Give `console` a new file (None: follow sys.stdout or sys.stderr again) under its write
    lock, so that no write from a display thread is still going to the old one."""
    with console._lock:
        console.file = file


@contextmanager
def output_to(path: Path, terminal: Sequence[Console] = ()) -> Iterator[None]:
    """For the block, fds 1 and 2 (and with them `sys.stdout`, `sys.stderr` and every child
    process) append to `path`, while each console of `terminal` (consoles that follow
    `sys.stdout` or `sys.stderr`, with no file of their own) writes where its stream went
    before. Everything is put back however the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _flush()
    saved = {fd: os.dup(fd) for fd in (STDOUT, STDERR)}
    streams = sys.stdout, sys.stderr
    originals = {fd: _duplicate(copy) for fd, copy in saved.items()}
    try:
        for console in terminal:
            _point(console, originals[STDERR if console.stderr else STDOUT])
        with open(path, "ab") as log:
            for fd in saved:
                os.dup2(log.fileno(), fd)
        # A live display running outside the step has replaced sys.stdout/sys.stderr with
        # proxies onto its console: inside, Python writes to the descriptors like the rest.
        sys.stdout, sys.stderr = _StepStream(sys.__stdout__), _StepStream(sys.__stderr__)
        yield
    finally:
        _flush()
        sys.stdout, sys.stderr = streams
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for console in terminal:
            _point(console, None)
        for stream in originals.values():
            stream.close()


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines of `path`, each as the terminal showed its last redraw (the text
    after its last carriage return)."""
    with open(path, encoding="utf-8", errors="replace", newline="\n") as stream:
        return [line.rstrip("\n").rsplit("\r", 1)[-1] for line in deque(stream, maxlen=lines)]


class StepLogs:
    """The step logs of one `tandem` command, one file per step in
    `<output_dir>/run-logs/<group>/`; with `verbose`, none: everything streams as it comes.

    `console` (tandem's stderr console: live display, messages) and `summary` (its stdout
    console) keep the terminal during steps."""

    def __init__(
        self,
        output_dir: Path,
        group: str,
        console: Console,
        summary: Console,
        verbose: bool = False,
    ):
        self.folder = Path(output_dir).resolve() / LOGS_DIR / group
        self.console = console
        self.summary = summary
        self.verbose = verbose
        self.files: list[Path] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run the block as step `name`, its output in `<folder>/<name>.log`. When it raises a
        TandemError, raise it again naming the log; any other exception, print the log's last
        lines and its path and let the exception go on."""
        if self.verbose:
            yield
            return
        path = self.folder / f"{name}.log"
        if path not in self.files:
            self.files.append(path)
        try:
            with output_to(path, [self.console, self.summary]):
                yield
        except TandemError as error:
            raise TandemError(f"{error} (log: {path})") from error
        except Exception:
            self._print_tail(path)
            raise

    def _print_tail(self, path: Path) -> None:
        lines = tail(path)
        heading = f"the last {len(lines)} lines of {path}:" if lines else f"{path} is empty"
        self.console.print(heading, style="bold", highlight=False, soft_wrap=True)
        for line in lines:
            self.console.print(Text("  ") + Text.from_ansi(line), soft_wrap=True)
