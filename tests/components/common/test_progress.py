"""Steps report progress through a file the `tandem run` display polls."""

from __future__ import annotations

from components.common.progress import (
    PROGRESS_ENV,
    ProgressState,
    read_progress,
    report_epoch,
    report_step,
)


def test_reports_go_to_the_named_file_and_read_back_as_the_latest_state(tmp_path, monkeypatch):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv(PROGRESS_ENV, str(path))
    report_step("ingest")
    assert read_progress(path) == ProgressState("ingest")
    report_step("train")
    report_epoch(0, 20)
    report_epoch(1, 20)
    assert read_progress(path) == ProgressState("train", 2, 20)
    report_step("evaluate")  # a new step forgets the epochs
    assert read_progress(path) == ProgressState("evaluate")


def test_a_half_written_line_is_skipped(tmp_path):
    path = tmp_path / "progress.jsonl"
    path.write_text('{"step": "train", "epoch": 3, "epochs": 5}\n{"step": "eva')
    assert read_progress(path) == ProgressState("train", 3, 5)


def test_without_the_variable_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    report_step("train")
    assert list(tmp_path.iterdir()) == []
    assert read_progress(tmp_path / "absent.jsonl") == ProgressState()
