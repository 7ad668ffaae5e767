"""What one `tandem run` does besides running pipelines: which seeds, the run group that ties its
MLflow runs together, where the report goes, and the live progress display."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from components.common.progress import PROGRESS_ENV, read_progress

REPORTS_DIR = "reports"
POLL_S = 0.5


def seed_values(spec_seeds: Sequence[int], count: int | None) -> list[int]:
    """The first `count` of the spec's seeds (all when None); more than the spec lists continue
    with the next unused integers."""
    seeds = list(spec_seeds)
    if count is None:
        return seeds
    candidate = max(seeds, default=-1) + 1
    while len(seeds) < count:
        seeds.append(candidate)
        candidate += 1
    return seeds[:count]


def run_group_id() -> str:
    """Sortable and unique: UTC time, then a random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def default_report_path(output_dir: Path, experiment: str) -> Path:
    return Path(output_dir) / REPORTS_DIR / f"{experiment}.html"


class RunProgress:
    """Pipeline runs done out of planned, the current run's step and its training epochs.

    Steps report through the TANDEM_PROGRESS_FILE this sets for the duration (see
    `components.common.progress`); a thread polls it while the display is up.
    """

    def __init__(self, console: Console, output_dir: Path, group: str, runs: int):
        self.file = Path(output_dir).resolve() / f".progress-{group}.jsonl"
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.runs = self.progress.add_task("pipeline runs", total=runs)
        self.current = self.progress.add_task("ingest", total=None)
        self.label = "ingest"
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._saved: str | None = None

    def __enter__(self) -> RunProgress:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.file.write_text("")
        self._saved = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = str(self.file)
        self.progress.start()
        self._poller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._poller.join()
        self.progress.stop()
        if self._saved is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._saved
        self.file.unlink(missing_ok=True)

    def stage(self, label: str, message: str) -> None:
        """A message from a runner (they report coarse stages in-process)."""
        self.progress.update(self.current, description=f"{self.label}: {message}")

    def start_run(self, label: str) -> None:
        self.label = label
        self.file.write_text("")
        self.progress.reset(self.current, total=None, description=f"{label}: starting")

    def finish_run(self) -> None:
        self.progress.advance(self.runs)

    def _poll(self) -> None:
        while not self._stop.wait(POLL_S):
            state = read_progress(self.file)
            if state.step is None:
                continue
            if state.epochs:
                description = f"{self.label}: {state.step} epoch {state.epoch}/{state.epochs}"
                self.progress.update(
                    self.current, description=description, total=state.epochs, completed=state.epoch
                )
            else:
                self.progress.update(self.current, description=f"{self.label}: {state.step}")
