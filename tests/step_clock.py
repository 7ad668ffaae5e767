"""What `step_s` means for every step that logs it: the step's own work, from its start to its
output written. A test calls the step's entry point in process and checks that `step_s` covers the
time from that call to the newest exported file."""

from __future__ import annotations

from pathlib import Path

# Between the test's call and the step's clock: argument and spec parsing only.
CALL_SLACK_S = 0.1


def assert_step_covers_call_to_export(run, called_at: float, model_dir: Path) -> None:
    """called_at: `time.time()` just before the entry point was called."""
    newest = max(p.stat().st_mtime for p in Path(model_dir).rglob("*") if p.is_file())
    since_call = newest - called_at
    assert run.data.metrics["step_s"] >= since_call - CALL_SLACK_S, (
        f"step_s {run.data.metrics['step_s']:.3f} s does not cover the {since_call:.3f} s from "
        "the step's call to its export written"
    )
