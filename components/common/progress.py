"""Progress of a running pipeline, for the `tandem run` display: which step, which epoch.

Pipeline steps run in other processes (kfp.local subprocesses, torchrun ranks), so they report
through a file named by TANDEM_PROGRESS_FILE, one JSON line per event, which the CLI polls.
Without the variable, reporting does nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PROGRESS_ENV = "TANDEM_PROGRESS_FILE"


@dataclass(frozen=True)
class ProgressState:
    step: str | None = None
    epoch: int | None = None
    epochs: int | None = None


def _append(event: dict) -> None:
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    with open(path, "a") as stream:
        stream.write(json.dumps(event) + "\n")


def report_step(step: str) -> None:
    """A step (ingest, train, evaluate, ...) has started."""
    _append({"step": step})


def report_epoch(epoch: int, epochs: int) -> None:
    """Epoch `epoch` (0-based) of `epochs` has ended."""
    _append({"step": "train", "epoch": epoch + 1, "epochs": epochs})


def read_progress(path: Path) -> ProgressState:
    """The latest state the file reports (a line being written is skipped)."""
    state: dict = {}
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return ProgressState()
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("step") != state.get("step"):
            state = {}
        state.update(event)
    return ProgressState(state.get("step"), state.get("epoch"), state.get("epochs"))
