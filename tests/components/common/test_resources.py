"""A step's peak memory covers the step, not the whole life of the process it shares."""

from __future__ import annotations

import numpy as np

from components.common.resources import peak_rss_mb, reset_peak_rss


def test_reset_starts_a_new_peak_window() -> None:
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    with_block = peak_rss_mb()
    del block
    assert reset_peak_rss()
    after_reset = peak_rss_mb()
    assert after_reset < with_block - 32


def test_peak_includes_memory_touched_after_the_reset() -> None:
    reset_peak_rss()
    before = peak_rss_mb()
    block = np.ones(64 * 2**20 // 8)
    assert peak_rss_mb() > before + 32
    del block
