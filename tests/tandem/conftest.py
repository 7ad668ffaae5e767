"""Fixtures the CLI's tests share: one real `make run`, its champions and its MLflow store."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.terminal import Screen, run_in_terminal

TANDEM = Path(sys.executable).parent / "tandem"


class MakeRun(NamedTuple):
    output_dir: Path
    # What the terminal shows: its rows, and its text with whitespace runs collapsed.
    rows: list[str]
    out: str
    text: str


@pytest.fixture(scope="session")
def make_run(tmp_path_factory) -> MakeRun:
    """`make run` in a terminal (a pseudo-terminal, so tandem draws its live display as it
    does for a user): the default penguins spec, every seed, both frameworks, then the
    report. Session-scoped: tests read it (terminal, report, MLflow store, registered
    champions) and never change it."""
    cwd = tmp_path_factory.mktemp("make-run")
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    finished = run_in_terminal(
        [str(TANDEM), "run", "--output-dir", "tandem-runs"], cwd, {**env, "TERM": "xterm-256color"}
    )
    screen = Screen.of(finished.output)
    assert finished.returncode == 0, screen.text()[-5000:]
    text = screen.text()
    return MakeRun(cwd / "tandem-runs", screen.lines(), " ".join(text.split()), text)
