"""Run a command in a pseudo-terminal and read its output the way a terminal shows it.

A command that sees a terminal draws differently (rich's live display redraws itself in place
with carriage returns and cursor movement), so what a user sees is the screen after replaying the
byte stream, not the bytes. `Screen` replays the few controls a line-oriented program sends:
carriage return, newline, backspace, tab, cursor up/down/left/right/column, erase in line, and
wrapping at the last column; colours, modes and OSC strings draw nothing.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROWS, COLUMNS = 40, 120
READ_BYTES = 65536
# CSI (ESC [ parameters final), OSC (ESC ] ... BEL or ESC \), or another two-character escape.
ESCAPE = re.compile(r"\x1b\[([0-9;?<=>]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    output: bytes


def run_in_terminal(
    command: Sequence[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    size: tuple[int, int] = (ROWS, COLUMNS),
    timeout_s: float = 1200,
) -> TerminalRun:
    """Run `command` with a pseudo-terminal of `size` (rows, columns) as its stdin, stdout and
    stderr; everything it (and its children) wrote, as the terminal received it."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    process = subprocess.Popen(
        list(command),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, READ_BYTES)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"{command} did not finish in {timeout_s} s")
        returncode = process.wait(timeout=60)
    finally:
        os.close(controller)
    return TerminalRun(returncode, b"".join(chunks))


@dataclass
class Screen:
    """The rows a terminal of `columns` by `rows` shows after receiving some output, scrolled-off
    rows included (a user scrolls back to them)."""

    columns: int = COLUMNS
    rows: int = ROWS
    cells: list[list[str]] = field(default_factory=lambda: [[]])
    wrapped: set[int] = field(default_factory=set)
    row: int = 0
    column: int = 0

    @classmethod
    def of(cls, output: bytes, columns: int = COLUMNS, rows: int = ROWS) -> Screen:
        screen = cls(columns, rows)
        screen.feed(output.decode("utf-8", errors="replace"))
        return screen

    def feed(self, text: str) -> None:
        position = 0
        for match in ESCAPE.finditer(text):
            self._print(text[position : match.start()])
            if match.group(2):
                self._control(match.group(1), match.group(2))
            position = match.end()
        self._print(text[position:])

    def lines(self) -> list[str]:
        """Every row as the user sees it, trailing spaces and trailing empty rows dropped."""
        lines = ["".join(cells).rstrip() for cells in self.cells]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def text(self) -> str:
        """The rows with each row the terminal wrapped joined to its continuation (the lines
        as the program wrote them), trailing empty rows dropped."""
        rows = ["".join(cells) for cells in self.cells]
        joined = [
            row if index in self.wrapped else row.rstrip() + "\n" for index, row in enumerate(rows)
        ]
        return "".join(joined).rstrip("\n") + "\n"

    def _top(self) -> int:
        """The first row still on screen: the cursor cannot move above it."""
        return max(0, len(self.cells) - self.rows)

    def _move_to(self, row: int) -> None:
        self.row = max(self._top(), row)
        while len(self.cells) <= self.row:
            self.cells.append([])

    def _print(self, text: str) -> None:
        for character in text:
            if character == "\r":
                self.column = 0
            elif character == "\n":
                self._move_to(self.row + 1)
            elif character == "\b":
                self.column = max(0, min(self.column, self.columns - 1) - 1)
            elif character == "\t":
                self.column = min(self.columns - 1, (self.column // 8 + 1) * 8)
            elif character >= " ":
                if self.column >= self.columns:
                    self.wrapped.add(self.row)
                    self._move_to(self.row + 1)
                    self.column = 0
                cells = self.cells[self.row]
                cells.extend(" " * (self.column + 1 - len(cells)))
                cells[self.column] = character
                self.column += 1

    def _control(self, parameters: str, final: str) -> None:
        if parameters.startswith("?") or final == "m":
            return
        numbers = [int(part) if part else 0 for part in parameters.split(";")]
        count = max(1, numbers[0])
        column = min(self.column, self.columns - 1)
        if final == "A":
            self._move_to(self.row - count)
        elif final == "B":
            self._move_to(self.row + count)
        elif final == "C":
            self.column = min(self.columns - 1, column + count)
        elif final == "D":
            self.column = max(0, column - count)
        elif final == "G":
            self.column = min(self.columns - 1, count - 1)
        elif final == "K":
            cells = self.cells[self.row]
            if numbers[0] == 0:
                del cells[self.column :]
            elif numbers[0] == 1:
                cells[: column + 1] = " " * min(len(cells), column + 1)
            else:
                cells.clear()
            self.wrapped.discard(self.row)
