"""The processes of one MLflow load (`benchmarks.mlflow_load`): N training-like runs at once.

    python -m benchmarks.mlflow_load_runs --tracking-uri URI --experiment NAME \\
        --runs 8 --epochs 5 --metrics 5 --timeout-s 600 --out R.json

This process imports mlflow once, then forks one process per run (it has no threads of its own
to break by forking; eight fresh interpreters importing mlflow take most of a minute on 2 vCPUs,
which the measurement does not need). Each run logs the way the PyTorch trainer does, through
the trainer's own `components.torch_trainer.run_log.train_run`: it creates its run (the
experiment too, racing the others, as concurrent trainers of one spec do), logs its params, waits
for the other runs so their logging overlaps, then per epoch makes one `log_batch` call with that
epoch's metrics at step=epoch (the TensorFlow trainer's `mlflow.log_metrics(..., step=epoch)` is
the same REST call), each call timed, and ends the run FINISHED. R.json: every run's report
(`mlflow_load.RunReport`) or why it failed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import queue
import random
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.mlflow_load import SPEC_NAME, LoadShape, RunReport

READY_TIMEOUT_S = 300.0


def _log_like_a_trainer(
    index: int, shape: LoadShape, tracking_uri: str, experiment: str, barrier
) -> RunReport:
    from components.torch_trainer.run_log import train_run

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    os.environ["MLFLOW_EXPERIMENT_NAME"] = experiment
    os.environ.pop("MLFLOW_RUN_ID", None)
    values = random.Random(f"{experiment}/{index}")
    sent: dict[str, list[float]] = {name: [] for name in shape.metric_names}
    call_s = []
    with tempfile.TemporaryDirectory(prefix="mlflow-load-") as scratch:
        root = Path(scratch)
        with train_run(SPEC_NAME, root / "runs", root / "state") as run:
            run.log_params({"run_index": index, "epochs": shape.epochs, "metrics": shape.metrics})
            barrier.wait(READY_TIMEOUT_S)
            first_call_at = time.time()
            for epoch in range(shape.epochs):
                metrics = {name: values.random() for name in shape.metric_names}
                started = time.perf_counter()
                run.log_epoch(epoch, metrics)
                call_s.append(time.perf_counter() - started)
                for name, value in metrics.items():
                    sent[name].append(value)
            last_call_at = time.time()
    return RunReport(run.run_id, sent, call_s, first_call_at, last_call_at)


def _run_process(index, shape, tracking_uri, experiment, barrier, results) -> None:
    """One run's process: its report, or its traceback, goes to `results`. MLflow's chatter
    (system metrics' INFO lines, the "View run at" line of every ended run) is dropped."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            report = _log_like_a_trainer(index, shape, tracking_uri, experiment, barrier)
    except BaseException:
        barrier.abort()  # the others stop waiting for this one
        results.put((index, None, traceback.format_exc()))
        return
    results.put((index, report, None))


def _collect(
    processes, barrier, results, timeout_s: float
) -> tuple[dict[int, RunReport], dict[int, str]]:
    """Each process's report or failure. A process that dies without either breaks the barrier
    (the others stop waiting for it); one still silent at the deadline is killed."""
    reports: dict[int, RunReport] = {}
    failed: dict[int, str] = {}
    pending = set(range(len(processes)))
    deadline = time.monotonic() + timeout_s
    all_dead_before = False
    while pending and time.monotonic() < deadline:
        try:
            index, report, error = results.get(timeout=1.0)
        except queue.Empty:
            dead = {index for index in pending if processes[index].exitcode is not None}
            if dead:
                barrier.abort()
            # Exited processes have flushed what they sent: one more empty wait drains it.
            if all_dead_before:
                break
            all_dead_before = dead == pending
            continue
        pending.discard(index)
        if report is None:
            failed[index] = error.strip().splitlines()[-1]
        else:
            reports[index] = report
    for index, process in enumerate(processes):
        process.join(timeout=0 if index in pending else 30)
        if process.is_alive():
            process.kill()
            process.join()
        if index in pending:
            failed[index] = f"no report in {timeout_s:.0f} s (exit code {process.exitcode})"
    return reports, failed


def run_all(shape: LoadShape, tracking_uri: str, experiment: str, timeout_s: float) -> dict:
    """Every run at once, each in a process forked from this one; their reports and failures."""
    import mlflow.tracking  # noqa: F401  imported once, here, for every fork

    import components.torch_trainer.run_log  # noqa: F401

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(shape.runs)
    results = context.Queue()
    processes = [
        context.Process(
            target=_run_process,
            args=(index, shape, tracking_uri, experiment, barrier, results),
            name=f"mlflow-load-{index}",
        )
        for index in range(shape.runs)
    ]
    for process in processes:
        process.start()
    reports, failed = _collect(processes, barrier, results, timeout_s)
    return {
        "reports": {str(i): dataclasses.asdict(report) for i, report in sorted(reports.items())},
        "failed": {str(i): why for i, why in sorted(failed.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mlflow_load_runs")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--metrics", type=int, required=True)
    parser.add_argument("--timeout-s", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    shape = LoadShape(args.runs, args.epochs, args.metrics)
    outcome = run_all(shape, args.tracking_uri, args.experiment, args.timeout_s)
    args.out.write_text(json.dumps(outcome) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
