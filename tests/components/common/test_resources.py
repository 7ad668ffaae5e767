"""A step's peak memory covers the step, not the whole life of the process it shares; its start
figure is what the process already held, so peak - start is what the step added."""

from __future__ import annotations

import numpy as np
import pytest

from components.common import resources
from components.common.resources import current_rss_mb, peak_rss_mb, reset_peak_rss

MIB = 2**20


def test_reset_starts_a_new_peak_window() -> None:
    block = np.ones(64 * MIB // 8)  # 64 MiB, touched
    with_block = peak_rss_mb()
    del block
    assert reset_peak_rss()
    after_reset = peak_rss_mb()
    assert after_reset < with_block - 32


def test_peak_includes_memory_touched_after_the_reset() -> None:
    reset_peak_rss()
    before = peak_rss_mb()
    block = np.ones(64 * MIB // 8)
    assert peak_rss_mb() > before + 32
    del block


def test_current_rss_rises_with_a_large_allocation_and_falls_when_it_is_freed() -> None:
    before = current_rss_mb()
    block = bytearray(64 * MIB)  # zero-filled, so every page is touched
    with_block = current_rss_mb()
    del block
    assert with_block > before + 32
    assert current_rss_mb() < with_block - 32


def test_the_windows_start_holds_what_the_process_held_and_peak_minus_start_what_came_after():
    baseline = bytearray(128 * MIB)  # what an earlier step still holds
    start = reset_peak_rss()
    assert start == pytest.approx(current_rss_mb(), abs=8)
    block = bytearray(64 * MIB)
    peak = peak_rss_mb()
    del block, baseline
    assert peak > 128 + 64
    assert 32 < peak - start < 96


def test_without_a_resettable_peak_there_is_no_start(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(resources, "_CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    assert reset_peak_rss() is None


def test_current_rss_without_proc_comes_from_psutil(monkeypatch, tmp_path) -> None:
    with_proc = current_rss_mb()
    monkeypatch.setattr(resources, "_STATUS", tmp_path / "missing" / "status")
    assert current_rss_mb() == pytest.approx(with_proc, abs=16)
