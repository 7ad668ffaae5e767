"""Latency, batches, memory and model size: counted and summed exactly, no timing claims."""

from __future__ import annotations

import numpy as np
import psutil
import pyarrow as pa
import pytest

from components.common.errors import TandemError
from components.common.resources import peak_rss_mb
from components.evaluate.latency import batch_of, measure_latency, model_size_bytes


class FakeClock:
    """A clock that each call of `work` advances by one more millisecond than the last."""

    def __init__(self):
        self.now = 0.0
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self) -> None:
        self.calls += 1
        self.now += self.calls / 1000.0


def test_warmup_calls_are_run_but_not_timed():
    clock = FakeClock()
    timing = measure_latency(clock.work, calls=5, warmup=2, clock=clock)
    assert clock.calls == 7
    # Timed calls are calls 3..7: 3, 4, 5, 6, 7 ms.
    assert timing["calls"] == 5
    assert timing["p50_ms"] == pytest.approx(5.0)
    assert timing["mean_ms"] == pytest.approx(5.0)
    assert timing["p99_ms"] == pytest.approx(np.percentile([3, 4, 5, 6, 7], 99))


def test_real_calls_are_counted_exactly():
    count = 0

    def call() -> list[int]:
        nonlocal count
        count += 1
        return sorted(range(2000, 0, -1))

    timing = measure_latency(call, calls=37)
    assert count == 10 + 37
    assert timing["calls"] == 37
    assert 0 < timing["p50_ms"] <= timing["p99_ms"]
    assert timing["mean_ms"] > 0
    assert all(np.isfinite(v) for v in timing.values())


@pytest.mark.parametrize(("calls", "warmup"), [(0, 10), (5, -1)])
def test_no_calls_is_refused(calls, warmup):
    with pytest.raises(ValueError):
        measure_latency(lambda: None, calls=calls, warmup=warmup)


def test_batch_of_cycles_rows_in_order():
    table = pa.table({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0]})
    assert batch_of(table, 7)["id"].to_pylist() == ["a", "b", "c", "a", "b", "c", "a"]
    assert batch_of(table, 2)["id"].to_pylist() == ["a", "b"]
    assert batch_of(table, 3).equals(table)
    assert batch_of(table, 1000).num_rows == 1000
    assert batch_of(table, 1000).equals(batch_of(table, 1000))
    assert batch_of(table, 1000).schema == table.schema


@pytest.mark.parametrize("size", [0, -3])
def test_batch_of_refuses_empty_batches(size):
    with pytest.raises(ValueError, match="batch size"):
        batch_of(pa.table({"x": [1.0]}), size)


def test_batch_of_an_empty_table_is_refused():
    with pytest.raises(ValueError, match="empty table"):
        batch_of(pa.table({"x": pa.array([], pa.float64())}), 4)


def test_peak_rss_is_in_mib():
    block = np.ones(64 * 2**20, dtype=np.uint8)  # touch 64 MiB
    process = psutil.Process()
    current = process.memory_info().rss / 2**20
    peak = peak_rss_mb()
    assert peak > 0
    assert peak >= current - 1  # the peak is at least what is resident now
    assert peak < psutil.virtual_memory().total / 2**20
    assert block.sum() == 64 * 2**20


def test_model_size_is_the_sum_of_file_sizes(tmp_path):
    (tmp_path / "variables").mkdir()
    (tmp_path / "assets").mkdir()  # empty directories weigh nothing
    (tmp_path / "saved_model.pb").write_bytes(b"x" * 1234)
    (tmp_path / "variables" / "variables.data-00000-of-00001").write_bytes(b"y" * 4321)
    (tmp_path / "variables" / "variables.index").write_bytes(b"")
    (tmp_path / "fingerprint.pb").write_bytes(b"z" * 7)
    assert model_size_bytes(tmp_path) == 1234 + 4321 + 0 + 7


def test_model_size_of_a_missing_dir_is_refused(tmp_path):
    with pytest.raises(TandemError, match="does not exist") as raised:
        model_size_bytes(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(raised.value)
