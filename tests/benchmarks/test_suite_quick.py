"""Each benchmark runs end to end in quick mode (tiny tables, one round) and writes its JSON."""

from __future__ import annotations

import json

import pytest

from benchmarks import run as bench_run


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ingest", "ddp"])  # compile: test_compile_bench.py
def test_quick_benchmark_writes_its_result(name, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_run, "RESULTS_DIR", tmp_path)
    assert bench_run.main(["--quick", "--only", name]) == 0
    document = json.loads((tmp_path / f"latest-{name}.json").read_text())
    assert document["benchmark"] == name and document["arguments"]["quick"] is True


@pytest.mark.slow
@pytest.mark.e2e
def test_tfx_node_times_sees_every_node_and_restores_the_launcher(tmp_path):
    from tfx.orchestration.portable.launcher import Launcher

    from benchmarks.synthetic import make_dataset
    from benchmarks.tfx_ingest_bench import _tfx_pair
    from components.spec import load_spec

    original = Launcher.launch
    result = _tfx_pair(load_spec(make_dataset(500, tmp_path)), tmp_path)
    assert set(result["executor_s"]) == {"CsvExampleGen", "StatisticsGen"}
    assert Launcher.launch is original
