"""Both frameworks' champions behind `tandem serve` (MLflow's scoring server, one uvicorn
worker each) under the same bounded HTTP load (`benchmarks.serving_load`).

Champions: the output dir in $TANDEM_BENCH_SERVING_OUTPUT_DIR when set (read only), else
benchmarks/data/serving-runs/, trained there by a real `tandem run` (penguins, one seed) when
it holds no champion of either framework yet. Payloads are the snapshot's real test rows: one
row per request at concurrency 1, 8 and 32, and a 64-row batch at concurrency 8. After an
untimed warm-up round, `repeats` timed rounds; in every round each case runs TensorFlow then
PyTorch (interleaved, so drift on a shared machine hits both). Per load: requests/s, p50 and
p99 latency, failed requests, the peak RSS of the server's whole process tree. Target: 0
failed requests over all loads, the warm-up too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from benchmarks import DATA_DIR
from benchmarks.display import median_range, progress, target, verdict
from benchmarks.launch import stop_group
from benchmarks.serving_load import STOP_S, TANDEM, run_load, start_server
from benchmarks.stats import ratios, summary
from components.common.errors import TandemError
from components.common.frameworks import NAMES, by_name
from components.common.model_registry import CHAMPION
from components.ingest.snapshot import SNAPSHOTS_DIR
from tandem.stack.local_stack import free_port

NAME = "serving"
OUTPUT_DIR_ENV = "TANDEM_BENCH_SERVING_OUTPUT_DIR"
SPEC = "penguins"
# (rows per request, requests in flight)
CASES = ((1, 1), (1, 8), (1, 32), (64, 8))
REQUESTS, WARMUP_REQUESTS = 2000, 200
QUICK_REQUESTS, QUICK_WARMUP_REQUESTS = 40, 10
FIGURES = ("requests_per_s", "p50_ms", "p99_ms", "peak_rss_mb")
TRAIN_TIMEOUT_S = 3600


def _has_champions(output_dir: Path) -> bool:
    from tandem.serve import resolve, store_uri

    try:
        uri = store_uri(output_dir)
        for framework in NAMES:
            resolve(by_name(framework).registered_model_name(SPEC), CHAMPION, uri)
    except TandemError:
        return False
    return True


def champions_dir(console: Console | None) -> Path:
    """Where both champions are, trained first when needed."""
    given = os.environ.get(OUTPUT_DIR_ENV)
    if given:
        return Path(given)
    output_dir = DATA_DIR / "serving-runs"
    if not _has_champions(output_dir):
        if console:
            console.print(f"serving: training both champions (`tandem run`) in {output_dir}")
        command = [str(TANDEM), "run", "--output-dir", str(output_dir), "--seeds", "1"]
        done = subprocess.run(
            [*command, "--no-compare"], capture_output=True, text=True, timeout=TRAIN_TIMEOUT_S
        )
        if done.returncode != 0 or not _has_champions(output_dir):
            raise RuntimeError(f"`tandem run` left no champions: {done.stderr[-2000:]}")
    return output_dir


def request_bodies(output_dir: Path, batch_rows: int) -> list[bytes]:
    """JSON bodies of `batch_rows` consecutive test rows each, wrapping round the split."""
    snapshot = output_dir / SNAPSHOTS_DIR / f"{SPEC}-current"
    manifest = json.loads((snapshot / "manifest.json").read_text())
    features = [feature["name"] for feature in manifest["dataset_spec"]["features"]]
    rows = pq.read_table(snapshot / "test", columns=features).to_pylist()
    return [
        json.dumps(
            {"dataframe_records": [rows[(start + i) % len(rows)] for i in range(batch_rows)]}
        ).encode()
        for start in range(len(rows))
    ]


def _case_result(loads: dict[str, list[dict]]) -> dict:
    tensorflow, pytorch = loads["tensorflow"], loads["pytorch"]
    return {
        **{
            framework: {
                **{name: summary([load[name] for load in runs]) for name in FIGURES},
                "errors": sum(load["errors"] for load in runs),
                "first_errors": [error for load in runs for error in load["first_errors"]][:3],
            }
            for framework, runs in loads.items()
        },
        "pytorch_over_tensorflow": {
            name: ratios([p[name] for p in pytorch], [t[name] for t in tensorflow])
            for name in FIGURES
        },
    }


def run(
    rows: Sequence[int] | None = None,
    repeats: int = 3,
    console: Console | None = None,
    quick: bool = False,
) -> dict:
    """`rows` does not apply: the payloads are the snapshot's test rows."""
    requests, warmup = (
        (QUICK_REQUESTS, QUICK_WARMUP_REQUESTS) if quick else (REQUESTS, WARMUP_REQUESTS)
    )
    output_dir = champions_dir(console)
    bodies = {batch: request_bodies(output_dir, batch) for batch, _ in CASES}
    loads = {case: {framework: [] for framework in NAMES} for case in CASES}
    errors = 0
    servers = {}
    logs = Path(tempfile.mkdtemp(prefix="tandem-serving-bench-"))
    try:
        for framework in NAMES:
            log = logs / f"serve-{framework}.log"
            servers[framework] = start_server(framework, output_dir, free_port(), log)
        with progress(console) as bar:
            task = bar.add_task("serving: warm-up", total=(repeats + 1) * len(CASES) * len(NAMES))
            for round_ in range(repeats + 1):
                label = "warm-up" if round_ == 0 else f"round {round_}/{repeats}"
                for batch, concurrency in CASES:
                    for framework in NAMES:
                        bar.update(
                            task,
                            description=f"serving: {label}, {framework}, {batch} row(s) "
                            f"x {concurrency} in flight",
                        )
                        load = run_load(
                            servers[framework],
                            bodies[batch],
                            warmup if round_ == 0 else requests,
                            concurrency,
                        )
                        errors += load["errors"]
                        if round_ > 0:
                            loads[(batch, concurrency)][framework].append(load)
                        bar.advance(task)
    finally:
        for server in servers.values():
            stop_group(server.process, STOP_S)
        shutil.rmtree(logs, ignore_errors=True)
    return {
        "output_dir": str(output_dir),
        "requests_per_load": requests,
        "warmup_requests_per_load": warmup,
        "rounds": repeats,
        "server": "tandem serve (MLflow scoring server, uvicorn, 1 worker)",
        "startup_s": {framework: server.startup_s for framework, server in servers.items()},
        "cases": [
            {
                "batch_rows": batch,
                "concurrency": concurrency,
                **_case_result(loads[(batch, concurrency)]),
            }
            for batch, concurrency in CASES
        ],
        "errors": errors,
        "targets": [target("serving: failed requests", errors, 0, higher_is_better=False)],
    }


def render(result: dict, console: Console) -> None:
    table = Table(
        title=f"tandem serve, {result['requests_per_load']} requests per load "
        f"(median (min-max) of {result['rounds']} rounds; peak RSS of the server's process tree)"
    )
    columns = ("rows/request", "in flight", "framework", "requests/s", "p50", "p99", "peak RSS")
    for column in (*columns, "errors"):
        table.add_column(column, justify="left" if column == "framework" else "right")
    for case in result["cases"]:
        shape = (str(case["batch_rows"]), str(case["concurrency"]))
        for framework in NAMES:
            found = case[framework]
            table.add_row(
                *shape,
                by_name(framework).label,
                median_range(found["requests_per_s"], 0),
                median_range(found["p50_ms"], 1, " ms"),
                median_range(found["p99_ms"], 1, " ms"),
                median_range(found["peak_rss_mb"], 0, " MiB"),
                str(found["errors"]),
            )
        ratio = case["pytorch_over_tensorflow"]
        table.add_row(
            *shape,
            "PyTorch ÷ TensorFlow",
            *(median_range(ratio[name], 2, "×") for name in FIGURES),
            "",
            end_section=True,
        )
    console.print(table)
    for case in result["cases"]:
        for framework in NAMES:
            for error in case[framework]["first_errors"]:
                console.print(f"[red]{framework}: {error}[/red]")
    for goal in result["targets"]:
        console.print(verdict(goal))
