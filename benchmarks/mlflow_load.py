"""N training-like runs logging to one MLflow server at once, then read back over its REST API.

The runs are processes of their own, started by `benchmarks.mlflow_load_runs` (how each logs:
there). Afterwards the server is asked, over plain HTTP (not the client that wrote), for the
experiment's runs and every metric's full history: a point the load sent that the server does
not hold is lost, a point it holds that was not sent (a retried call stored twice) is extra.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from benchmarks import BENCH_DIR

# What a classifier's epoch logs (the trainers' names), then what else a trainer might.
EPOCH_METRICS = (
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "epoch_s",
    "learning_rate",
    "grad_norm",
    "samples_per_s",
)
SPEC_NAME = "mlflow-load"
HTTP_TIMEOUT_S = 60.0
# Beyond the runs' own timeout: the launcher's imports and exit.
LAUNCH_MARGIN_S = 120.0


@dataclass(frozen=True)
class LoadShape:
    """runs concurrent runs, each logging `epochs` calls of `metrics` metrics."""

    runs: int
    epochs: int
    metrics: int

    def __post_init__(self) -> None:
        if not 1 <= self.metrics <= len(EPOCH_METRICS):
            raise ValueError(f"metrics must be 1 to {len(EPOCH_METRICS)}, not {self.metrics}")
        if self.runs < 1 or self.epochs < 1:
            raise ValueError("a load needs at least one run and one epoch")

    @property
    def metric_names(self) -> tuple[str, ...]:
        return EPOCH_METRICS[: self.metrics]

    @property
    def points(self) -> int:
        return self.runs * self.epochs * self.metrics


@dataclass(frozen=True)
class RunReport:
    """What one run sent: its values per metric (index = epoch = step) and each call's seconds,
    and when (time.time()) its first call started and its last ended."""

    run_id: str
    sent: dict[str, list[float]]
    call_s: list[float]
    first_call_at: float
    last_call_at: float


@dataclass(frozen=True)
class LoadResult:
    shape: LoadShape
    experiment: str
    reports: list[RunReport]
    failed_runs: list[str]  # "run <index>: why", from the processes and the server's statuses
    verified_points: int  # sent points the server holds, value and step alike
    extra_points: int  # points the server holds that no run sent

    @property
    def lost_points(self) -> int:
        """Points the load was to log that the server does not hold (a run that failed before
        sending counts every point it owed)."""
        return self.shape.points - self.verified_points

    @property
    def call_s(self) -> list[float]:
        return [seconds for report in self.reports for seconds in report.call_s]

    @property
    def logging_wall_s(self) -> float:
        """From the first call of any run to the last call of any run."""
        return max(r.last_call_at for r in self.reports) - min(
            r.first_call_at for r in self.reports
        )

    def figures(self) -> dict:
        """p50/p99/max of a log call in ms, points/s over the logging wall, and the losses."""
        calls = sorted(self.call_s)
        cuts = statistics.quantiles(calls, n=100, method="inclusive") if len(calls) > 1 else None
        points_sent = sum(len(values) for r in self.reports for values in r.sent.values())
        wall = self.logging_wall_s if self.reports else None
        return {
            "calls": len(calls),
            "call_p50_ms": cuts[49] * 1000 if cuts else None,
            "call_p99_ms": cuts[98] * 1000 if cuts else None,
            "call_max_ms": calls[-1] * 1000 if calls else None,
            "points_per_s": points_sent / wall if wall else None,
            "logging_wall_s": wall,
            "lost_points": self.lost_points,
            "extra_points": self.extra_points,
            "failed_runs": list(self.failed_runs),
        }


def _rest(tracking_uri: str, endpoint: str, query: dict | None = None, body: dict | None = None):
    url = f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/{endpoint}"
    if query:
        url += "?" + urlencode(query)
    data = None if body is None else json.dumps(body).encode()
    request = Request(url, data=data, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        return json.loads(response.read())


def run_statuses(tracking_uri: str, experiment: str) -> dict[str, str]:
    """Every run of the experiment (deleted ones too) and its status, as the server has them."""
    found = _rest(tracking_uri, "experiments/get-by-name", {"experiment_name": experiment})
    body = {
        "experiment_ids": [found["experiment"]["experiment_id"]],
        "run_view_type": "ALL",
        "max_results": 1000,
    }
    statuses: dict[str, str] = {}
    while True:
        page = _rest(tracking_uri, "runs/search", body=body)
        statuses |= {run["info"]["run_id"]: run["info"]["status"] for run in page.get("runs", [])}
        if not page.get("next_page_token"):
            return statuses
        body["page_token"] = page["next_page_token"]


def metric_history(tracking_uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """Every (step, value) the server holds for one metric of one run."""
    query = {"run_id": run_id, "metric_key": key}
    points = []
    while True:
        page = _rest(tracking_uri, "metrics/get-history", query)
        points += [(int(m.get("step", 0)), float(m["value"])) for m in page.get("metrics", [])]
        if not page.get("next_page_token"):
            return points
        query["page_token"] = page["next_page_token"]


def check_on_server(
    tracking_uri: str, experiment: str, reports: dict[int, RunReport]
) -> tuple[list[str], int, int]:
    """The runs the server does not hold FINISHED, and the verified and extra points."""
    statuses = run_statuses(tracking_uri, experiment) if reports else {}
    failed = [
        f"run {index}: {statuses.get(report.run_id, 'not on the server')}"
        for index, report in sorted(reports.items())
        if statuses.get(report.run_id) != "FINISHED"
    ]
    verified = extra = 0
    for report in reports.values():
        for key, values in report.sent.items():
            sent = Counter(enumerate(values))
            held = Counter(metric_history(tracking_uri, report.run_id, key))
            verified += sum((sent & held).values())
            extra += sum((held - sent).values())
    return failed, verified, extra


def _run_processes(
    tracking_uri: str, shape: LoadShape, experiment: str, timeout_s: float
) -> tuple[dict[int, RunReport], list[str]]:
    with tempfile.TemporaryDirectory(prefix="mlflow-load-") as scratch:
        out = Path(scratch) / "runs.json"
        command = [sys.executable, "-m", "benchmarks.mlflow_load_runs"]
        command += ["--tracking-uri", tracking_uri, "--experiment", experiment]
        command += ["--runs", str(shape.runs), "--epochs", str(shape.epochs)]
        command += ["--metrics", str(shape.metrics), "--timeout-s", str(timeout_s)]
        # A session of its own: on a timeout it goes with every run it forked.
        process = subprocess.Popen(
            [*command, "--out", str(out)],
            cwd=BENCH_DIR.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=timeout_s + LAUNCH_MARGIN_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(f"the MLflow load did not end in {timeout_s:.0f} s") from None
        if process.returncode != 0:
            raise RuntimeError(f"the MLflow load exited {process.returncode}:\n{stderr[-3000:]}")
        outcome = json.loads(out.read_text())
    reports = {int(i): RunReport(**report) for i, report in outcome["reports"].items()}
    failed = [f"run {i}: {why}" for i, why in outcome["failed"].items()]
    return reports, failed


def run_load(
    tracking_uri: str, shape: LoadShape, experiment: str, timeout_s: float = 600.0
) -> LoadResult:
    """Run `shape.runs` training-like runs against the server at once (in experiment
    `experiment`), then verify what the server holds. What the server lost or failed is
    reported, not raised; a load that cannot run at all raises RuntimeError."""
    reports, failed = _run_processes(tracking_uri, shape, experiment, timeout_s)
    not_finished, verified, extra = check_on_server(tracking_uri, experiment, reports)
    return LoadResult(
        shape=shape,
        experiment=experiment,
        reports=[reports[index] for index in sorted(reports)],
        failed_runs=failed + not_finished,
        verified_points=verified,
        extra_points=extra,
    )
