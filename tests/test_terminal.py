"""The terminal the CLI tests read output through: a real pseudo-terminal, and a screen that
shows what a user sees after redraws."""

from __future__ import annotations

import io
import sys

from rich.console import Console
from rich.progress import Progress

from tests.terminal import Screen, run_in_terminal


def _as_a_terminal_receives(text: str) -> bytes:
    """A terminal's line discipline turns each newline a program writes into CR LF."""
    return text.replace("\n", "\r\n").encode()


def test_a_redrawn_live_display_shows_its_last_state_once():
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=60, color_system="truecolor")
    with Progress(console=console, auto_refresh=False) as progress:
        task = progress.add_task("training", total=5)
        for _ in range(5):
            progress.advance(task)
            progress.refresh()
            console.print("a line printed above the display")
    console.print("summary")
    lines = Screen.of(_as_a_terminal_receives(stream.getvalue()), columns=60).lines()
    assert lines[:5] == ["a line printed above the display"] * 5
    assert lines[5].startswith("training") and "100%" in lines[5]
    assert lines[6:] == ["summary"]


def test_carriage_returns_overwrite_and_long_lines_wrap():
    screen = Screen.of(b"10%\r50%\r100% done\r\n" + b"x" * 25 + b"\r\nend\r\n", columns=10)
    assert screen.lines() == ["100% done", "x" * 10, "x" * 10, "x" * 5, "end"]
    assert screen.text() == "100% done\n" + "x" * 25 + "\nend\n"


def test_the_cursor_cannot_climb_above_the_screen():
    output = b"".join(b"%d\r\n" % n for n in range(5)) + b"\x1b[9A\x1b[2Kredrawn\r\n"
    assert Screen.of(output, rows=3).lines() == ["0", "1", "2", "redrawn", "4"]


def test_a_command_in_the_terminal_sees_a_terminal_of_the_given_size(tmp_path):
    script = (
        "import os, sys; print(sys.stdout.isatty(), sys.stderr.isatty(), os.get_terminal_size())"
    )
    run = run_in_terminal([sys.executable, "-c", script], tmp_path, size=(30, 90))
    assert run.returncode == 0
    assert Screen.of(run.output).lines() == ["True True os.terminal_size(columns=90, lines=30)"]
