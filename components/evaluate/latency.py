"""Inference cost, measured the same way for both frameworks: real timed calls, never estimates."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from components.common.errors import TandemError


def measure_latency(
    call: Callable[[], object],
    calls: int,
    warmup: int = 10,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Run `call` warmup + calls times; per-call wall time of the last `calls` runs, in ms."""
    if calls < 1 or warmup < 0:
        raise ValueError(f"need calls >= 1 and warmup >= 0 (got calls={calls}, warmup={warmup})")
    for _ in range(warmup):
        call()
    durations = np.empty(calls)
    for i in range(calls):
        started = clock()
        call()
        durations[i] = clock() - started
    durations_ms = durations * 1000.0
    p50, p99 = np.percentile(durations_ms, [50, 99])
    return {
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "mean_ms": float(durations_ms.mean()),
        "calls": calls,
    }


def batch_of(table: pa.Table, size: int) -> pa.Table:
    """`size` rows: the table's rows in order, cycled as often as needed (or its first rows)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1 (got {size})")
    if table.num_rows == 0:
        raise ValueError("cannot build a batch from an empty table")
    return table.take(pa.array(np.arange(size) % table.num_rows))


def model_size_bytes(model_dir: Path) -> int:
    """Total size of the files under an exported model directory."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise TandemError(f"{model_dir}: model directory does not exist")
    return sum(path.stat().st_size for path in model_dir.rglob("*") if path.is_file())
