"""MLflow on PostgreSQL (the package's `stack`, tests/integration/conftest.py) under 8 training
runs logging at once, each a process of its own: nothing is lost, no run fails. The benchmark
round `mlflow-load` runs the same load, larger, and reports its latencies."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.mlflow_load import LoadShape, check_on_server, run_load, run_statuses
from tandem.stack import local_stack

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

SHAPE = LoadShape(runs=8, epochs=5, metrics=5)
EXPERIMENT = "mlflow-load-test"


@pytest.fixture(scope="module")
def load(stack):
    return run_load(stack.tracking_uri, SHAPE, EXPERIMENT, timeout_s=300)


def test_eight_concurrent_runs_lose_no_metric_point(load) -> None:
    assert load.failed_runs == []
    assert (load.lost_points, load.extra_points) == (0, 0)
    assert load.verified_points == SHAPE.points == 200


def test_every_run_is_finished_and_no_other_run_appeared(stack, load) -> None:
    statuses = run_statuses(stack.tracking_uri, EXPERIMENT)
    assert set(statuses) == {report.run_id for report in load.reports}
    assert len(statuses) == SHAPE.runs
    assert set(statuses.values()) == {"FINISHED"}


def test_every_log_call_was_timed_and_a_p99_reported(load) -> None:
    figures = load.figures()
    assert figures["calls"] == SHAPE.runs * SHAPE.epochs
    assert all(len(report.call_s) == SHAPE.epochs for report in load.reports)
    assert 0 < figures["call_p50_ms"] <= figures["call_p99_ms"] <= figures["call_max_ms"]
    assert figures["points_per_s"] > 0


def test_the_check_compares_values_not_just_counts(stack, load) -> None:
    """A sent value the server does not hold at its step is lost, and the one it holds there
    is extra: the zeros above are a real comparison."""
    report = load.reports[0]
    sent = {key: list(values) for key, values in report.sent.items()}
    sent["val_loss"][0] += 1.0
    tampered = dataclasses.replace(report, sent=sent)
    not_finished, verified, extra = check_on_server(stack.tracking_uri, EXPERIMENT, {0: tampered})
    assert not_finished == []
    assert (verified, extra) == (SHAPE.epochs * SHAPE.metrics - 1, 1)


def test_runs_that_cannot_reach_the_server_fail_and_lose_every_point(monkeypatch) -> None:
    """No server at all: the zeros above are not what any load reports."""
    monkeypatch.setenv("TANDEM_MLFLOW_WAIT_S", "0")
    shape = LoadShape(runs=2, epochs=2, metrics=2)
    nowhere = f"http://127.0.0.1:{local_stack.free_port()}"
    result = run_load(nowhere, shape, "mlflow-load-nowhere", timeout_s=60)
    assert len(result.failed_runs) == 2
    assert all("cannot be reached" in failure for failure in result.failed_runs)
    assert (result.lost_points, result.verified_points) == (shape.points, 0)
    assert result.figures()["call_p99_ms"] is None
